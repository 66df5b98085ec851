package ocra_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp/ocra"
)

const origin = "https://bank.example"

type env struct {
	store *memstore.Store
	clock *identitytest.Clock
	svc   *identity.Services
	f     *ocra.Factor
}

func newEnv(t *testing.T, opts ...ocra.Option) *env { return newEnvB(t, opts...) }

// newEnvB's factor approves in euros, as a bank's tokens with a numeric
// question must be told (ocra.WithCurrency), unless opts say otherwise.
func newEnvB(t testing.TB, opts ...ocra.Option) *env {
	t.Helper()
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: store, Clock: clock, Throttle: &identity.Throttle{Store: store, Clock: clock, Free: 5, LockAfter: 10}}
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	if opts == nil {
		opts = []ocra.Option{ocra.WithCurrency("EUR")}
	}
	f, err := ocra.New(svc, sealer, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: store, clock: clock, svc: svc, f: f}
}

// token is the holder's device: the suite, the key, the PIN it asks for,
// and its own counter.
type token struct {
	suite   *ocra.Suite
	key     []byte
	pin     string
	counter uint64
}

func (e *env) issue(t *testing.T, suite string, key []byte, pin string) *token {
	return e.issueB(t, suite, key, pin)
}

func (e *env) issueB(t testing.TB, suite string, key []byte, pin string) *token {
	t.Helper()
	s, err := ocra.ParseSuite(suite)
	if err != nil {
		t.Fatal(err)
	}
	var pinHash []byte
	if pin != "" {
		h := sha1.Sum([]byte(pin))
		pinHash = h[:]
	}
	if _, err := e.f.Import(context.Background(), "alice", "token-1", "signing token", suite, key, pinHash, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	return &token{suite: s, key: key, pin: pin}
}

// press answers question as the device does, advancing its counter.
func (tk *token) press(t *testing.T, question string, now time.Time) string {
	t.Helper()
	r, err := tk.suite.Response(tk.key, ocra.Input{Counter: tk.counter, Question: question, PIN: tk.pin, Time: now})
	if err != nil {
		t.Fatal(err)
	}
	if tk.suite.Counter {
		tk.counter++
	}
	return r
}

func (e *env) login(t *testing.T, answer func(question string) string) (*identity.Proof, error) {
	t.Helper()
	ctx := context.Background()
	ch, err := e.f.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	return e.f.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(answer(string(ch.Payload)))})
}

func (e *env) approve(t *testing.T, issued, answered identity.Transaction, answer func(question string) string) (*identity.Proof, error) {
	t.Helper()
	ctx := context.Background()
	ch, err := e.f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &issued})
	if err != nil {
		t.Fatal(err)
	}
	return e.f.FinishApprove(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin,
		Data: []byte(answer(string(ch.Payload))), Transaction: &answered})
}

func payment(amount string) identity.Transaction {
	return identity.Transaction{Amount: amount, Currency: "EUR", PayeeName: "Muster GmbH",
		PayeeAccount: "DE89 3704 0044 0532 0130 00", Reference: "INV-2026-0042"}
}

// TestLogin: an imported counter token with a PIN logs in with the
// response to a random question; the key is sealed at rest; a wrong or
// malformed response is refused; a token pressed a few times ahead is
// accepted within the look-ahead window.
func TestLogin(t *testing.T) {
	e := newEnv(t)
	tk := e.issue(t, "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1", key32, "1234")
	c, _ := e.store.Credential(context.Background(), identity.CredentialRef{Subject: "alice", Kind: ocra.Kind, ID: "token-1"})
	if bytes.Contains(c.Secret, key32) || bytes.Contains(c.Public, key32) {
		t.Fatal("the token's key is stored in clear")
	}
	p, err := e.login(t, func(q string) string {
		if len(q) != 8 {
			t.Fatalf("question %q, want 8 digits", q)
		}
		return tk.press(t, q, e.clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != ocra.Kind || p.Assurance != identity.Level2 || !p.Factors.Has(identity.Knowledge) || !p.Factors.Has(identity.Possession) {
		t.Fatalf("proof %+v", p)
	}
	if _, err := e.login(t, func(string) string { return "00000000" }); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatalf("a wrong response: %v", err)
	}
	if _, err := e.login(t, func(string) string { return "12ab" }); !errors.Is(err, ocra.ErrMalformedResponse) || !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("a malformed response: %v", err)
	}
	tk.counter += 5 // pressed five times without being used
	if _, err := e.login(t, func(q string) string { return tk.press(t, q, e.clock.Now()) }); err != nil {
		t.Fatalf("a token five presses ahead: %v", err)
	}
}

// TestApprove: the OCRA token approves "100.00 EUR to Muster GmbH,
// DE89…3000"; the question shows the account's last digits and the amount;
// the same response for 100.01 EUR or another IBAN, or replayed, is refused
// with typed errors; the proof approves that payment only.
func TestApprove(t *testing.T) {
	e := newEnv(t)
	tk := e.issue(t, "OCRA-1:HOTP-SHA256-8:C-QN10-PSHA1", key32, "1234")
	tx := payment("100.00")
	var seen, last string
	answer := func(q string) string {
		seen = q
		last = tk.press(t, q, e.clock.Now())
		return last
	}
	p, err := e.approve(t, tx, tx, answer)
	if err != nil {
		t.Fatal(err)
	}
	if seen != "300010000" {
		t.Fatalf("the question is %q, want the account's last digits 3000 and the amount 10000", seen)
	}
	pol := &identity.Policy{ApprovalKinds: []identity.Kind{ocra.Kind}}
	pw := identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: e.clock.Now()}
	session := &identity.Session{Subject: "alice", Proofs: []identity.Proof{pw}}
	if err := pol.Approve(session, *p, tx); err != nil {
		t.Fatalf("Policy.Approve: %v", err)
	}
	if err := pol.Approve(session, *p, payment("100.01")); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Fatalf("the proof approving 100.01: %v", err)
	}
	if _, err := e.approve(t, tx, payment("100.01"), answer); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("answered for 100.01: %v", err)
	}
	otherIBAN := tx
	otherIBAN.PayeeAccount = "GB82 WEST 1234 5698 7654 32"
	if _, err := e.approve(t, tx, otherIBAN, answer); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("answered for another IBAN: %v", err)
	}
	// The response seen for the first approval, replayed on a new approval
	// of the same payment (same question): its counter is spent.
	first := tk.suite
	replay, _ := first.Response(key32, ocra.Input{Counter: 0, Question: "300010000", PIN: "1234"})
	if _, err := e.approve(t, tx, tx, func(string) string { return replay }); !errors.Is(err, identity.ErrReplayed) {
		t.Errorf("a replayed approval: %v", err)
	}
	// 1,000,000.00 EUR does not fit a QN10 question with the account digits.
	big := payment("1000000.00")
	if _, err := e.f.BeginApprove(context.Background(), identity.Request{Subject: "alice", Origin: origin, Transaction: &big}); !errors.Is(err, ocra.ErrQuestionTooShort) || !errors.Is(err, identity.ErrCannotLink) {
		t.Errorf("an amount too long for the question: %v", err)
	}
}

// TestApproveCurrency: digits cannot show a currency, so the numeric
// question of 100.00 GBP would be that of 100.00 EUR; a factor approves in
// the one currency it was given, and without one a numeric token approves
// nothing, where an alphanumeric question writes the currency out. An
// account without four characters to show, or a currency that is no ISO
// 4217 code, is refused.
func TestApproveCurrency(t *testing.T) {
	// Not nil: newEnv's factor without WithCurrency.
	noOptions := []ocra.Option{}
	ctx := context.Background()
	gbp := payment("100.00")
	gbp.Currency = "GBP"
	begin := func(e *env, tx identity.Transaction) error {
		_, err := e.f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
		return err
	}

	eur := newEnv(t)
	eur.issue(t, "OCRA-1:HOTP-SHA256-8:C-QN10-PSHA1", key32, "1234")
	if err := begin(eur, gbp); !errors.Is(err, ocra.ErrCurrency) || !errors.Is(err, identity.ErrCannotLink) {
		t.Errorf("100.00 GBP on a euro token: %v", err)
	}
	if err := begin(eur, payment("100.00")); err != nil {
		t.Errorf("100.00 EUR on a euro token: %v", err)
	}

	none := newEnv(t, noOptions...)
	none.issue(t, "OCRA-1:HOTP-SHA256-8:C-QN10-PSHA1", key32, "1234")
	if err := begin(none, payment("100.00")); !errors.Is(err, ocra.ErrCurrency) {
		t.Errorf("a numeric token with no currency named: %v", err)
	}

	alnum := newEnv(t, noOptions...)
	tk := alnum.issue(t, "OCRA-1:HOTP-SHA256-8:C-QA16-PSHA1", key32, "1234")
	var seen []string
	answer := func(q string) string {
		seen = append(seen, q)
		return tk.press(t, q, alnum.clock.Now())
	}
	if _, err := alnum.approve(t, gbp, gbp, answer); err != nil {
		t.Fatalf("100.00 GBP on an alphanumeric token: %v", err)
	}
	eurTx := payment("100.00")
	if _, err := alnum.approve(t, eurTx, eurTx, answer); err != nil {
		t.Fatalf("100.00 EUR on an alphanumeric token: %v", err)
	}
	if len(seen) != 2 || seen[0] != "3000GBP10000" || seen[1] != "3000EUR10000" {
		t.Errorf("questions %q, want the account's last characters, the currency and the amount", seen)
	}
	if _, err := alnum.approve(t, eurTx, gbp, answer); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("an answer for EUR approving GBP: %v", err)
	}

	short := payment("100.00")
	short.PayeeAccount = "ACC-12"
	if err := begin(eur, short); !errors.Is(err, ocra.ErrPayee) || !errors.Is(err, identity.ErrCannotLink) {
		t.Errorf("an account with two digits: %v", err)
	}

	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	for _, code := range []string{"", "EUX", "eur", "XXX"} {
		if _, err := ocra.New(svc, sealer, ocra.WithCurrency(code)); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("WithCurrency(%q): %v", code, err)
		}
	}
}

// TestApproveTimeToken: a time-based token cannot approve the same payment
// twice with one response in one time step; a suite with neither counter
// nor time cannot approve at all.
func TestApproveTimeToken(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(rfcTime)
	tk := e.issue(t, "OCRA-1:HOTP-SHA512-8:QH40-T1M", key64, "")
	tx := payment("100.00")
	var r string
	p, err := e.approve(t, tx, tx, func(q string) string {
		if len(q) != 40 {
			t.Fatalf("question %q, want 40 hex digits of the digest", q)
		}
		r = tk.press(t, q, e.clock.Now())
		return r
	})
	if err != nil || p.Factors.Has(identity.Knowledge) {
		t.Fatalf("%+v, %v", p, err)
	}
	if _, err := e.approve(t, tx, tx, func(string) string { return r }); !errors.Is(err, identity.ErrReplayed) {
		t.Errorf("the same response in the same minute: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.approve(t, tx, tx, func(q string) string { return tk.press(t, q, e.clock.Now()) }); err != nil {
		t.Errorf("the next minute: %v", err)
	}

	e2 := newEnv(t)
	e2.issue(t, "OCRA-1:HOTP-SHA1-6:QN08", key20, "")
	if _, err := e2.f.BeginApprove(context.Background(), identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}); !errors.Is(err, identity.ErrCannotLink) {
		t.Errorf("a token without counter or clock approving: %v", err)
	}
}

func TestImportRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, c := range []struct {
		suite        string
		key, pinHash []byte
	}{
		{"OCRA-1:HOTP-SHA1-6:QN03", key20, nil},
		{"OCRA-1:HOTP-SHA1-6:QN08", key20[:15], nil},
		{"OCRA-1:HOTP-SHA1-6:QN08-PSHA1", key20, nil},
		{"OCRA-1:HOTP-SHA1-6:QN08", key20, make([]byte, 20)},
	} {
		if _, err := e.f.Import(ctx, "alice", "t", "", c.suite, c.key, c.pinHash, ""); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("Import(%s, %d-byte key, %d-byte PIN hash): %v", c.suite, len(c.key), len(c.pinHash), err)
		}
	}
}
