package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// approveEnv issues approval challenges for alice and finishes them with a
// check that always succeeds: what is tested is the binding, not a factor.
type approveEnv struct {
	svc *identity.Services
	req identity.Request
}

func newApproveEnv(t *testing.T) *approveEnv {
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	return &approveEnv{
		svc: &identity.Services{Store: store, Clock: clock, Throttle: &identity.Throttle{Store: store, Clock: clock}},
		req: identity.Request{Subject: "alice", Origin: "https://bank.example", RemoteAddr: "192.0.2.7"},
	}
}

func (e *approveEnv) approve(t *testing.T, issued, answered identity.Transaction) (*identity.Proof, error) {
	t.Helper()
	req := e.req
	req.Transaction = &issued
	ch, err := e.svc.Issue(context.Background(), identity.KindCard, identity.PurposeApprove, req, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.svc.Approve(context.Background(), identity.KindCard, identity.Response{ChallengeID: ch.ID, Subject: "alice",
		Origin: req.Origin, Transaction: &answered}, func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		ev.CredentialID = "card-1"
		p.CredentialID, p.Factors, p.Assurance = "card-1", identity.Possession|identity.Knowledge, identity.Level3
		return nil
	})
}

// TestApprovalBinding: an approval challenge answers only for the
// transaction it was issued for — one cent, another IBAN or another payee
// name is refused before the factor's check runs — and the proof carries
// the digest.
func TestApprovalBinding(t *testing.T) {
	e := newApproveEnv(t)
	tx := payment()
	p, err := e.approve(t, tx, tx)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := tx.Digest()
	if string(p.Transaction) != string(d[:]) {
		t.Fatalf("proof's transaction %x, want %x", p.Transaction, d)
	}
	for _, change := range []func(*identity.Transaction){
		func(tx *identity.Transaction) { tx.Amount = "100.01" },
		func(tx *identity.Transaction) { tx.PayeeAccount = "GB82 WEST 1234 5698 7654 32" },
		func(tx *identity.Transaction) { tx.PayeeName = "Muster GmbH & Co" },
	} {
		other := payment()
		change(&other)
		if _, err := e.approve(t, tx, other); !errors.Is(err, identity.ErrTransactionMismatch) || !errors.Is(err, identity.ErrChallengeMismatch) {
			t.Errorf("approval of %+v against a challenge for %+v: %v, want ErrTransactionMismatch", other, tx, err)
		}
	}
	recs, _ := e.svc.Store.AuditEvents(context.Background(), "alice", 10)
	if recs[len(recs)-1].Event.Action != "approve" || recs[0].Event.Result != identity.Failure {
		t.Fatalf("audit trail %+v", recs)
	}

	ctx := context.Background()
	if _, err := e.svc.Issue(ctx, identity.KindCard, identity.PurposeApprove, e.req, nil, nil); !errors.Is(err, identity.ErrBadInput) {
		t.Errorf("approval challenge without a transaction: %v", err)
	}
	withTx := e.req
	withTx.Transaction = &tx
	if _, err := e.svc.Issue(ctx, identity.KindCard, identity.PurposeAuthenticate, withTx, nil, nil); !errors.Is(err, identity.ErrBadInput) {
		t.Errorf("login challenge with a transaction: %v", err)
	}
	// A login challenge does not approve, nor an approval challenge log in.
	login, _ := e.svc.Issue(ctx, identity.KindCard, identity.PurposeAuthenticate, e.req, nil, nil)
	if _, err := e.svc.Approve(ctx, identity.KindCard, identity.Response{ChallengeID: login.ID, Subject: "alice", Origin: e.req.Origin, Transaction: &tx},
		func(context.Context, *identity.Challenge, *identity.Event, *identity.Proof) error { return nil }); !errors.Is(err, identity.ErrChallengeMismatch) {
		t.Errorf("a login challenge answered as an approval: %v", err)
	}
	appr, _ := e.svc.Issue(ctx, identity.KindCard, identity.PurposeApprove, withTx, nil, nil)
	if _, err := e.svc.Prove(ctx, identity.KindCard, identity.Response{ChallengeID: appr.ID, Subject: "alice", Origin: e.req.Origin},
		func(context.Context, *identity.Challenge, *identity.Event, *identity.Proof) error { return nil }); !errors.Is(err, identity.ErrChallengeMismatch) {
		t.Errorf("an approval challenge answered as a login: %v", err)
	}
}

// TestPolicyApprove: only factors that link approve; the proof must be for
// this transaction and this subject; with the session it must make two
// factors.
func TestPolicyApprove(t *testing.T) {
	e := newApproveEnv(t)
	tx := payment()
	card, err := e.approve(t, tx, tx)
	if err != nil {
		t.Fatal(err)
	}
	pol := &identity.Policy{}
	now := identitytest.Epoch()
	pw := identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: now}
	totpProof := identity.Proof{Subject: "alice", Kind: identity.KindTOTP, Factors: identity.Possession, Assurance: identity.Level2, Time: now}
	session, err := pol.Combine(pw, totpProof)
	if err != nil {
		t.Fatal(err)
	}
	if err := pol.Approve(session, *card, tx); err != nil {
		t.Fatalf("card approval: %v", err)
	}
	other := tx
	other.Amount = "100.01"
	if err := pol.Approve(session, *card, other); !errors.Is(err, identity.ErrTransactionMismatch) {
		t.Errorf("card proof for 100.00 approving 100.01: %v", err)
	}
	totpApproval := totpProof
	d, _ := tx.Digest()
	totpApproval.Transaction = d[:]
	if err := pol.Approve(session, totpApproval, tx); !errors.Is(err, identity.ErrCannotLink) {
		t.Errorf("a TOTP code approving a payment: %v", err)
	}
	bobs := *card
	bobs.Subject = "bob"
	if err := pol.Approve(session, bobs, tx); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Errorf("bob's proof in alice's session: %v", err)
	}
	// A possession-only approval needs the session's knowledge factor.
	key := *card
	key.Kind, key.Factors, key.Assurance = identity.KindWebAuthn, identity.Possession, identity.Level2
	if err := pol.Approve(&identity.Session{Subject: "alice"}, key, tx); !errors.Is(err, identity.ErrStepUpRequired) {
		t.Errorf("a key without user verification, in a session without a password: %v", err)
	}
	if err := pol.Approve(session, key, tx); err != nil {
		t.Errorf("the same key in a session with a password: %v", err)
	}
}

// TestPSD2Throttle: under the Article 4 preset, five wrong answers are
// evaluated, the fifth blocks the factor (audited), the sixth is refused
// without its answer being looked at, and the back office's unblock is
// audited and lets the holder in again.
func TestPSD2Throttle(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	svc := &identity.Services{Store: store, Clock: clock, Throttle: identity.PSD2Throttle(store, clock)}
	req := identity.Request{Subject: "alice", Origin: "https://bank.example"}
	evaluated := 0
	try := func(good bool) error {
		ch, err := svc.Issue(ctx, identity.KindCard, identity.PurposeAuthenticate, req, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Prove(ctx, identity.KindCard, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: req.Origin},
			func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
				evaluated++
				if !good {
					return identity.ErrInvalidResponse
				}
				p.Factors, p.Assurance = identity.Possession|identity.Knowledge, identity.Level3
				return nil
			})
		return err
	}
	for i := range 5 {
		clock.Advance(time.Hour) // no waiting helps
		if err := try(false); !errors.Is(err, identity.ErrInvalidResponse) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	clock.Advance(30 * 24 * time.Hour)
	var te *identity.ThrottledError
	if err := try(true); !errors.As(err, &te) || !te.Locked || te.RetryAfter != 0 || evaluated != 5 {
		t.Fatalf("sixth attempt, a month later: %v after %d evaluations; want blocked, unevaluated", err, evaluated)
	}
	if err := svc.Unlock(ctx, "alice", "back office: agent 42", "10.0.0.5", identity.KindCard); err != nil {
		t.Fatal(err)
	}
	if err := try(true); err != nil {
		t.Fatalf("after the unblock: %v", err)
	}
	recs, _ := store.AuditEvents(ctx, "alice", 20)
	var actions []string
	for i := len(recs) - 1; i >= 0; i-- {
		actions = append(actions, recs[i].Event.Action)
	}
	want := "login login login login block login login unlock login"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("audit trail %q, want %q", got, want)
	}
}
