package ocra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/puce-id/puce/identity"
)

// Kind is the factor kind of OCRA tokens.
const Kind identity.Kind = "ocra"

// Factor is the OCRA token factor: logins answer a random question, and
// payment approvals a question derived from the payment (QuestionFor), on
// the holder's token. Keys (and PIN hashes, for suites with P) are sealed at
// rest. Replays are refused as for TOTP: every challenge answers once, and
// a token's counter or time step only moves forward, on every server
// instance at once (identity.CredentialStore.AdvanceCounter).
//
// Add Kind to identity.Policy.ApprovalKinds to let OCRA tokens approve
// payments; tokens with a numeric question (QN) approve them in the one
// currency WithCurrency names.
type Factor struct {
	svc      *identity.Services
	sealer   *identity.Sealer
	currency string
}

// Option configures a Factor.
type Option func(*Factor) error

// WithCurrency names the one currency (ISO 4217 code, "EUR") the factor's
// tokens approve payments in. A numeric question holds digits only, so the
// digits of 100.00 EUR are those of 100.00 GBP or 10000 JPY: the holder
// checks the currency against the page, which malware may have drawn, and
// the code would not be specific to the amount (Commission Delegated
// Regulation (EU) 2018/389, Article 5(1)(b)). With the currency fixed here a
// payment in another one is refused at BeginApprove (ErrCurrency); without
// it, tokens with a numeric question approve nothing. Alphanumeric
// questions write the currency out, hex ones bind it through the digest.
func WithCurrency(code string) Option {
	return func(f *Factor) error {
		probe := identity.Transaction{Amount: "1", Currency: code, PayeeName: "-", PayeeAccount: "-"}
		if _, err := probe.Canonical(); err != nil {
			return fmt.Errorf("%w: ocra: WithCurrency: %w", identity.ErrBadInput, err)
		}
		f.currency = code
		return nil
	}
}

// Counter and time windows: a token may have been pressed a few times
// without being used, and its clock may drift by a step.
const (
	// LookAhead is how far past the last accepted counter a response may be.
	LookAhead = 10
	// TimeSkew is how many steps before and after now a response may be.
	TimeSkew = 1
)

// ErrMalformedResponse: the response is not Digits digits (or the hex HMAC,
// for suites without truncation). It matches identity.ErrBadInput and
// identity.ErrInvalidResponse; nothing was consumed.
var ErrMalformedResponse = identity.Sentinel("ocra: malformed response", identity.ErrBadInput, identity.ErrInvalidResponse)

// New returns the factor. svc needs a Throttle: OCRA responses are short
// codes, guessable without one.
func New(svc *identity.Services, sealer *identity.Sealer, opts ...Option) (*Factor, error) {
	if svc == nil || svc.Store == nil || sealer == nil {
		return nil, fmt.Errorf("%w: ocra: services with a store, and a sealer, are required", identity.ErrBadInput)
	}
	if svc.Throttle == nil {
		return nil, fmt.Errorf("%w: ocra: services have no throttle; codes can be guessed without one", identity.ErrBadInput)
	}
	f := &Factor{svc: svc, sealer: sealer}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Kind returns Kind.
func (f *Factor) Kind() identity.Kind { return Kind }

// token is what a credential keeps in clear: the suite.
type token struct {
	Suite string `json:"suite"`
}

// secret is what it keeps sealed.
type secret struct {
	Key     []byte `json:"key"`
	PINHash []byte `json:"pin_hash,omitempty"`
}

// Import enrols a token the bank issued (a hardware token, or a software
// one provisioned out of band) for subject: its suite, its key and, for a
// suite with P, the hash of the holder's PIN under the suite's PIN hash (the
// server needs it to compute the response; it is sealed with the key). The
// enrolment is audited. A token with the same serial (id) as an enrolled
// one gets identity.ErrExists.
func (f *Factor) Import(ctx context.Context, subject identity.Subject, id, name, suite string, key, pinHash []byte, remoteAddr string) (*identity.Credential, error) {
	c, err := f.credential(subject, id, name, suite, key, pinHash)
	ev := identity.Event{Subject: subject, Kind: Kind, CredentialID: id, Action: "enroll", RemoteAddr: remoteAddr, Reason: "token imported"}
	if err != nil {
		return nil, f.svc.Record(ctx, ev, err)
	}
	// The credential and its event commit together.
	if err := f.svc.ImportCredential(ctx, c, ev); err != nil {
		return nil, err
	}
	return c, nil
}

func (f *Factor) credential(subject identity.Subject, id, name, suite string, key, pinHash []byte) (*identity.Credential, error) {
	if err := subject.Validate(); err != nil {
		return nil, err
	}
	s, err := ParseSuite(suite)
	if err != nil {
		return nil, err
	}
	switch {
	case id == "" || len(id) > 64:
		return nil, fmt.Errorf("%w: ocra: token ID of 1 to 64 bytes", identity.ErrBadInput)
	case len(key) < 16:
		return nil, fmt.Errorf("%w: ocra: key of %d bytes; RFC 4226 §4 asks for at least 128 bits", identity.ErrBadInput, len(key))
	case s.PIN != 0 && len(pinHash) != s.PIN.Size():
		return nil, fmt.Errorf("%w: ocra: the suite needs the PIN's %v hash", identity.ErrBadInput, s.PIN)
	case s.PIN == 0 && pinHash != nil:
		return nil, fmt.Errorf("%w: ocra: a PIN hash for a suite without P", identity.ErrBadInput)
	}
	pub, _ := json.Marshal(token{Suite: suite})
	sec, _ := json.Marshal(secret{Key: key, PINHash: pinHash})
	c := &identity.Credential{Subject: subject, Kind: Kind, ID: id, Name: name, Public: pub, Active: true, CreatedAt: f.svc.Now()}
	c.Secret = f.sealer.Seal(sec, c.Ref())
	return c, nil
}

// Begin starts a login: the Payload is a random question in the format and
// length of the subject's token (its first active one), for the holder to
// type into the token.
func (f *Factor) Begin(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	s, err := f.suiteOf(ctx, req.Subject)
	if err != nil {
		return nil, err
	}
	return f.svc.Issue(ctx, Kind, identity.PurposeAuthenticate, req, []byte(randomQuestion(s)), nil)
}

// Finish checks the token's response to the login question. The proof is
// possession (and knowledge, for a suite with a PIN), identity.Level2.
// Errors: ErrMalformedResponse (nothing consumed), identity.ErrInvalidResponse,
// identity.ErrReplayed (a counter or time step already used), the
// challenge and throttle errors of identity.Services.
func (f *Factor) Finish(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	if err := checkResponse(resp.Data); err != nil {
		return nil, err
	}
	return f.svc.Prove(ctx, Kind, resp, f.check(resp.Data))
}

// BeginApprove starts the approval of req.Transaction: the Payload is the
// question QuestionFor derives from it, which the holder types into the
// token beside the page showing the amount and payee. The token's suite must
// count (C) or tell time (T): the question of one payment is always the
// same, so only a moving counter or clock keeps a seen response from
// approving it again.
func (f *Factor) BeginApprove(ctx context.Context, req identity.Request) (*identity.Challenge, error) {
	if req.Transaction == nil {
		return nil, fmt.Errorf("%w: ocra: an approval needs the transaction", identity.ErrBadInput)
	}
	s, err := f.suiteOf(ctx, req.Subject)
	if err != nil {
		return nil, err
	}
	if !s.Counter && s.TimeStep == 0 {
		return nil, fmt.Errorf("%w: ocra: suite %s has neither counter nor time step, so an approval could be replayed", identity.ErrCannotLink, s)
	}
	switch cur := req.Transaction.Currency; {
	case f.currency != "" && cur != f.currency:
		return nil, fmt.Errorf("%w: the tokens approve payments in %s, not %q", ErrCurrency, f.currency, cur)
	case f.currency == "" && s.QuestionFormat == Numeric:
		return nil, fmt.Errorf("%w: suite %s has a numeric question, which cannot show it; name the one currency with WithCurrency", ErrCurrency, s)
	}
	q, err := QuestionFor(s, *req.Transaction)
	if err != nil {
		return nil, err
	}
	return f.svc.Issue(ctx, Kind, identity.PurposeApprove, req, []byte(q), nil)
}

// FinishApprove checks the token's response to an approval question for
// resp.Transaction, which must be the payment the challenge was issued for
// (identity.ErrTransactionMismatch otherwise). The errors are Finish's.
func (f *Factor) FinishApprove(ctx context.Context, resp identity.Response) (*identity.Proof, error) {
	if err := checkResponse(resp.Data); err != nil {
		return nil, err
	}
	return f.svc.Approve(ctx, Kind, resp, f.check(resp.Data))
}

// checkResponse refuses what no suite could have made: 4 to 10 digits, or
// the hex of a whole HMAC.
func checkResponse(b []byte) error {
	switch n := len(b); {
	case n >= 4 && n <= 10 && strings.Trim(string(b), "0123456789") == "":
	case (n == 40 || n == 64 || n == 128) && strings.Trim(string(b), "0123456789abcdef") == "":
	default:
		return ErrMalformedResponse
	}
	return nil
}

// check verifies response against the subject's tokens for the
// challenge's question, and moves the matching token's counter or time
// step forward.
func (f *Factor) check(response []byte) identity.ProofCheck {
	return func(ctx context.Context, ch *identity.Challenge, ev *identity.Event, p *identity.Proof) error {
		creds, err := f.svc.Credentials(ctx, ch.Subject, Kind)
		if err != nil {
			return fmt.Errorf("ocra: load tokens: %w", err)
		}
		replayed := false
		for i := range creds {
			c := &creds[i]
			if !c.Active {
				continue
			}
			ev.CredentialID = c.ID
			next, s, err := f.match(c, string(ch.Payload), response, ev.Time)
			if err != nil {
				return err
			}
			if next == 0 {
				continue
			}
			// A suite without counter or clock relies on the single-use
			// challenge alone; the others move forward too.
			if s.Counter || s.TimeStep > 0 {
				if next <= c.Counter {
					replayed = true
					continue
				}
				if err := f.svc.AdvanceCounter(ctx, c.Ref(), next, ev.Time); err != nil {
					if errors.Is(err, identity.ErrReplayed) {
						return fmt.Errorf("ocra: this response was already used: %w", err)
					}
					return fmt.Errorf("ocra: record counter: %w", err)
				}
			}
			p.CredentialID, p.Factors, p.Assurance = c.ID, identity.Possession, identity.Level2
			if s.PIN != 0 {
				p.Factors |= identity.Knowledge
			}
			return nil
		}
		if replayed {
			return fmt.Errorf("ocra: this response was already used: %w", identity.ErrReplayed)
		}
		return fmt.Errorf("%w: ocra: the response does not match", identity.ErrInvalidResponse)
	}
}

// match computes the token's responses to question over its counter and
// time windows. It returns 0 when none matches; otherwise the counter value
// to store (the counter or time step after the matching one, or 1 for a
// suite with neither), which the caller refuses as a replay when it is not
// above the stored one.
func (f *Factor) match(c *identity.Credential, question string, response []byte, now time.Time) (uint64, *Suite, error) {
	var tok token
	if err := json.Unmarshal(c.Public, &tok); err != nil {
		return 0, nil, fmt.Errorf("ocra: token %s: %w", c.ID, err)
	}
	s, err := ParseSuite(tok.Suite)
	if err != nil {
		return 0, nil, fmt.Errorf("ocra: token %s: %w", c.ID, err)
	}
	var next uint64
	err = f.sealer.OpenFunc(c.Secret, c.Ref(), func(plain []byte) error {
		var sec secret
		if err := json.Unmarshal(plain, &sec); err != nil {
			return err
		}
		in := Input{Question: question, PINHash: sec.PINHash}
		try := func() (bool, error) {
			ok, err := s.Verify(sec.Key, in, string(response))
			return ok, err
		}
		switch {
		case s.Counter:
			// Forward from the stored counter first (the common case costs
			// one HMAC); only when that fails, the LookAhead counters before
			// it, so that a response for a counter already used is named a
			// replay (next at or below the stored one), not a mismatch.
			for _, n := range counters(c.Counter) {
				in.Counter = n
				if ok, err := try(); err != nil || ok {
					next = n + 1
					return err
				}
			}
		case s.TimeStep > 0:
			step := now.Unix() / int64(s.TimeStep/time.Second)
			for d := -TimeSkew; d <= TimeSkew; d++ {
				in.Time = time.Unix((step+int64(d))*int64(s.TimeStep/time.Second), 0)
				if ok, err := try(); err != nil || ok {
					next = uint64(step+int64(d)) + 1
					return err
				}
			}
		default:
			if ok, err := try(); err != nil || ok {
				next = 1
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("ocra: token %s: %w", c.ID, err)
	}
	return next, s, nil
}

// counters are the counter values to try against a stored counter c: the
// look-ahead window, then the look-behind one.
func counters(c uint64) []uint64 {
	out := make([]uint64, 0, 2*LookAhead)
	for n := c; n < c+LookAhead; n++ {
		out = append(out, n)
	}
	for n, low := c, c-min(c, LookAhead); n > low; n-- {
		out = append(out, n-1)
	}
	return out
}

// suiteOf is the suite of subject's first active token.
func (f *Factor) suiteOf(ctx context.Context, subject identity.Subject) (*Suite, error) {
	creds, err := f.svc.Store.Credentials(ctx, subject, Kind)
	if err != nil {
		return nil, fmt.Errorf("ocra: load tokens: %w", err)
	}
	for i := range creds {
		if !creds[i].Active {
			continue
		}
		var tok token
		if err := json.Unmarshal(creds[i].Public, &tok); err != nil {
			return nil, fmt.Errorf("ocra: token %s: %w", creds[i].ID, err)
		}
		return ParseSuite(tok.Suite)
	}
	return nil, fmt.Errorf("%w: ocra: %q has no token", identity.ErrNotEnrolled, subject)
}

// randomQuestion draws a question of the suite's full length.
func randomQuestion(s *Suite) string {
	const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	digits := "0123456789"
	switch s.QuestionFormat {
	case Hex:
		digits = "0123456789ABCDEF"
	case Alphanumeric:
		digits = alnum
	}
	b := make([]byte, s.QuestionLen)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(digits))))
		b[i] = digits[n.Int64()]
	}
	return string(b)
}

// ErrQuestionTooShort: the token's question cannot hold what an approval
// must show (the account's last characters and the amount, and for an
// alphanumeric question the currency). Use a token with a longer question.
var ErrQuestionTooShort = fmt.Errorf("%w: ocra: the token's question is too short for this payment", identity.ErrCannotLink)

// ErrCurrency: the token cannot approve a payment in this currency: the
// factor approves in another one (WithCurrency), or its question is
// numeric and no currency was named.
var ErrCurrency = fmt.Errorf("%w: ocra: the token cannot show this payment's currency", identity.ErrCannotLink)

// ErrPayee: the payee's account has too few characters a question can
// show (four digits, or four letters and digits for an alphanumeric
// question), so the question would not be specific to the payee.
var ErrPayee = fmt.Errorf("%w: ocra: the token's question cannot show this payee", identity.ErrCannotLink)

// payeeChars is how many of the payee account's last characters a question
// shows: a fixed count, so that a token that repeats the question can tell
// where the account ends and the amount begins.
const payeeChars = 4

// QuestionFor derives an approval's question from a payment, as signing
// tokens take it, for the holder to check against the page as they type it:
//
//   - numeric suites: the last four digits of the payee's account, then the
//     amount in minor units ("3000" and 100.00 give "300010000"); the
//     currency is the factor's (WithCurrency), which Factor.BeginApprove
//     checks, since digits cannot show it;
//   - alphanumeric suites: the last four letters and digits of the account,
//     the currency's code, then the amount in minor units ("3000EUR10000");
//   - hex suites: the leading hex digits of the transaction's digest,
//     binding every field (the holder can check none of them).
//
// ErrQuestionTooShort when it does not fit, ErrPayee when the account has
// fewer than four characters to show.
func QuestionFor(s *Suite, tx identity.Transaction) (string, error) {
	canon, err := tx.Canonical()
	if err != nil {
		return "", err
	}
	parsed, err := identity.ParseTransaction(canon)
	if err != nil {
		return "", err
	}
	if s.QuestionFormat == Hex {
		d, _ := tx.Digest()
		h := strings.ToUpper(hex.EncodeToString(d[:]))
		return h[:min(len(h), s.QuestionLen)], nil
	}
	var acct strings.Builder
	for _, r := range parsed.PayeeAccount {
		if r >= '0' && r <= '9' || s.QuestionFormat == Alphanumeric && r >= 'A' && r <= 'Z' {
			acct.WriteRune(r)
		}
	}
	if acct.Len() < payeeChars {
		return "", fmt.Errorf("%w: %q has %d characters a %s question shows, not %d", ErrPayee, parsed.PayeeAccount, acct.Len(), s, payeeChars)
	}
	q := acct.String()[acct.Len()-payeeChars:]
	if s.QuestionFormat == Alphanumeric {
		q += parsed.Currency
	}
	q += strings.TrimLeft(strings.ReplaceAll(parsed.Amount, ".", ""), "0")
	if len(q) > s.QuestionLen {
		return "", fmt.Errorf("%w: %q needs %d characters, the suite %s takes %d", ErrQuestionTooShort, q, len(q), s, s.QuestionLen)
	}
	return q, nil
}
