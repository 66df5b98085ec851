package httpauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/puce-id/puce/identity"
)

// Actions the endpoints authorize with Manager.Authorize, so that an
// application can ask more for them in Policy.Actions (a fresh second
// factor before adding a new one, say).
const (
	ActionEnroll  = "enroll"
	ActionApprove = "approve payment"
)

// fail answers err; every handler ends through it or through writeJSON.
func (e *Endpoints) fail(w http.ResponseWriter, r *http.Request, err error) {
	e.m.WriteError(w, r, err)
}

// factor is the registered factor the path names.
// prepare reads a step's body into body, the factor its path names and
// the browser's session; when one fails it has answered, and ok is false.
func (e *Endpoints) prepare(w http.ResponseWriter, r *http.Request, body any) (f identity.Authenticator, s *Session, ok bool) {
	err := decode(r, body)
	if err == nil {
		f, err = e.factor(r)
	}
	if err == nil {
		s, err = e.m.Load(r)
	}
	if err != nil {
		e.fail(w, r, err)
		return nil, nil, false
	}
	return f, s, true
}

func (e *Endpoints) factor(r *http.Request) (identity.Authenticator, error) {
	k := identity.Kind(r.PathValue("kind"))
	f, ok := e.factors[k]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFactor, k)
	}
	return f, nil
}

// session is the session Protect checked; for a GET, Start makes one so
// that a page's script can learn its CSRF token.
func (e *Endpoints) session(w http.ResponseWriter, r *http.Request) {
	s, err := e.m.Start(w, r)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	st, err := e.state(r.Context(), s)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// state describes s, with the second factors its account can go on with
// while a login is under way.
func (e *Endpoints) state(ctx context.Context, s *Session) (stateJSON, error) {
	st := stateJSON{Subject: string(s.Subject()), Level: s.Level().String(), Complete: s.Login() != nil, CSRFToken: s.CSRFToken()}
	var err error
	switch {
	case s.Subject() == "":
	case st.Complete:
		st.ApproveWith, err = e.approveWith(ctx, s.Subject())
	default:
		st.Next, st.Enroll, err = e.next(ctx, s.Subject())
	}
	return st, err
}

// approveWith is what a signed-in account can approve payments with here:
// the kinds of its active credentials whose factor is registered, is an
// Approver, and is one the policy lets approve (as approver checks), in
// the policy's order. It lets a payment page offer the account's own
// devices, rather than learn of a missing one from a refused begin. One
// read of the account's credentials, only when payments are served.
func (e *Endpoints) approveWith(ctx context.Context, subject identity.Subject) ([]identity.Kind, error) {
	if e.cfg.PendingPayment == nil || e.cfg.Credentials == nil {
		return nil, nil
	}
	creds, err := e.cfg.Credentials.Credentials(ctx, subject, "")
	if err != nil {
		return nil, fmt.Errorf("httpauth: list credentials: %w", err)
	}
	var out []identity.Kind
	for _, k := range e.approvalKinds() {
		if _, ok := e.factors[k].(Approver); !ok || slices.Contains(out, k) {
			continue
		}
		if slices.ContainsFunc(creds, func(c identity.Credential) bool { return c.Active && c.Kind == k }) {
			out = append(out, k)
		}
	}
	return out, nil
}

// next is what the account of subject can do after its first factor: log
// in with the second factors it has (next), or, with none yet, enrol one
// (enroll). The answer comes from the account's credentials, not from what
// the server offers (Policy.SecondFactors): an account whose factors are
// all unusable here gets identity.ErrFactorUnavailable, never the right to
// enrol a new one on the password.
func (e *Endpoints) next(ctx context.Context, subject identity.Subject) (next, enroll []identity.Kind, err error) {
	if e.cfg.Credentials == nil {
		return nil, nil, nil
	}
	creds, err := e.cfg.Credentials.Credentials(ctx, subject, "")
	if err != nil {
		return nil, nil, fmt.Errorf("httpauth: list credentials: %w", err)
	}
	next, err = e.m.policy.SecondFactors(creds, func(k identity.Kind) bool { _, ok := e.factors[k]; return ok })
	if errors.Is(err, identity.ErrNotEnrolled) {
		kinds := e.m.policy.SecondFactorKinds
		if len(kinds) == 0 {
			kinds = identity.DefaultSecondFactors()
		}
		for _, k := range kinds {
			if _, ok := e.factors[k]; ok {
				enroll = append(enroll, k)
			}
		}
		return nil, enroll, nil
	}
	return next, nil, err
}

// answer adds proof to the session and answers with where the login
// stands: complete, or waiting for a second factor.
func (e *Endpoints) answer(w http.ResponseWriter, r *http.Request, s *Session, proof identity.Proof) {
	_, err := e.m.AddProof(r.Context(), w, s, proof)
	if err != nil && !errors.Is(err, identity.ErrStepUpRequired) {
		e.fail(w, r, err)
		return
	}
	st, err := e.state(r.Context(), s)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// credentials reads a user name and password, the session, and the
// subject the name stands for; when one fails it has answered.
func (e *Endpoints) credentials(w http.ResponseWriter, r *http.Request) (s *Session, subject identity.Subject, password string, ok bool) {
	var b credentialsBody
	err := decode(r, &b)
	if err == nil {
		s, err = e.m.Load(r)
	}
	if err == nil {
		subject, err = e.cfg.Subject(r.Context(), b.Username)
	}
	if err != nil {
		e.fail(w, r, err)
		return nil, "", "", false
	}
	return s, subject, b.Password, true
}

func (e *Endpoints) password(w http.ResponseWriter, r *http.Request) {
	s, subject, password, ok := e.credentials(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	proof, err := e.cfg.Passwords.Verify(ctx, subject, password, e.cfg.RemoteAddr(r))
	if err != nil {
		e.fail(w, r, err)
		return
	}
	// An account whose second factors cannot run here is refused before
	// its password is kept: it must not go on to enrol another one.
	if _, _, err := e.next(ctx, subject); err != nil {
		e.fail(w, r, err)
		return
	}
	e.answer(w, r, s, *proof)
}

func (e *Endpoints) signUp(w http.ResponseWriter, r *http.Request) {
	s, subject, password, ok := e.credentials(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	// Create returns the new password's proof: no second hash.
	proof, err := e.cfg.Passwords.Create(ctx, subject, password, e.cfg.RemoteAddr(r))
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.answer(w, r, s, *proof)
}

func (e *Endpoints) logout(w http.ResponseWriter, r *http.Request) {
	s, err := e.m.Load(r)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	if err := e.m.Logout(r.Context(), w, s); err != nil {
		e.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// challenge is ch as the client gets it: its ID bound to the session s
// (binding.go).
func (e *Endpoints) challenge(r *http.Request, s *Session, ch *identity.Challenge) (challengeJSON, error) {
	id, err := e.m.bindChallenge(r.Context(), s, ch.ID)
	if err != nil {
		return challengeJSON{}, err
	}
	return challengeJSON{ChallengeID: id, Kind: ch.Kind, Payload: payloadJSON(ch.Payload), ExpiresAt: ch.ExpiresAt.UTC().Format(time.RFC3339)}, nil
}

// loginBegin begins a login for the session's subject: the one its
// password named, or none for a username-less login (a passkey, a card).
// A client cannot name an account here: a login begun for a name would
// tell anyone whether the account has a card or a key, and list its
// WebAuthn credential IDs, before any proof.
func (e *Endpoints) loginBegin(w http.ResponseWriter, r *http.Request) {
	f, s, ok := e.prepare(w, r, &emptyBody{})
	if !ok {
		return
	}
	ch, err := f.Begin(r.Context(), identity.Request{Subject: s.Subject(), Origin: e.m.cfg.Origin, RemoteAddr: e.cfg.RemoteAddr(r)})
	var out challengeJSON
	if err == nil {
		out, err = e.challenge(r, s, ch)
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Endpoints) loginFinish(w http.ResponseWriter, r *http.Request) {
	var b finishBody
	f, s, ok := e.prepare(w, r, &b)
	if !ok {
		return
	}
	id, err := boundChallenge(s, b.ChallengeID)
	var data []byte
	if err == nil {
		data, err = responseData(b.Response)
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	proof, err := f.Finish(r.Context(), identity.Response{ChallengeID: id, Subject: s.Subject(),
		Origin: e.m.cfg.Origin, Data: data, RemoteAddr: e.cfg.RemoteAddr(r)})
	if err != nil {
		e.failAnswer(w, r, s, f.Kind(), err)
		return
	}
	e.answer(w, r, s, *proof)
}

// mayEnroll returns who may enrol a factor in this session: a signed-in
// user (as the policy allows ActionEnroll), or a new account that proved
// its password moments ago and has no second factor yet. Anyone else
// would be adding a way into an account they have not fully proven.
func (e *Endpoints) mayEnroll(ctx context.Context, s *Session) (identity.Subject, error) {
	if s.Login() != nil {
		return s.Subject(), e.m.Authorize(s, ActionEnroll)
	}
	now := e.m.now()
	fresh := slices.ContainsFunc(s.Pending(), func(p identity.Proof) bool {
		return p.Subject == s.Subject() && p.Factors.Has(identity.Knowledge) && now.Sub(p.Time) <= e.m.cfg.PendingTimeout
	})
	if !fresh {
		return "", e.m.Authorize(s, ActionEnroll)
	}
	_, enroll, err := e.next(ctx, s.Subject())
	if err != nil {
		return "", err
	}
	if len(enroll) == 0 {
		return "", fmt.Errorf("%w: httpauth: %q has a second factor; sign in with it before enrolling another", identity.ErrStepUpRequired, s.Subject())
	}
	return s.Subject(), nil
}

func (e *Endpoints) enrollBegin(w http.ResponseWriter, r *http.Request) {
	f, s, ok := e.prepare(w, r, &emptyBody{})
	if !ok {
		return
	}
	ctx := r.Context()
	subject, err := e.mayEnroll(ctx, s)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	user, display, err := e.cfg.UserName(ctx, subject)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	ch, err := f.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: e.m.cfg.Origin, UserName: user,
		DisplayName: display, RemoteAddr: e.cfg.RemoteAddr(r)})
	if err != nil {
		e.fail(w, r, err)
		return
	}
	cj, err := e.challenge(r, s, ch)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	out := enrollChallengeJSON{challengeJSON: cj}
	if q, ok := f.(qrCoder); ok {
		png, err := q.QRCode(ch)
		if err != nil {
			e.fail(w, r, err)
			return
		}
		out.QRCode = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Endpoints) enrollFinish(w http.ResponseWriter, r *http.Request) {
	var b enrollFinishBody
	f, s, ok := e.prepare(w, r, &b)
	if !ok {
		return
	}
	id, err := boundChallenge(s, b.ChallengeID)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	// Asked again: the account may have gained a factor since Begin.
	subject, err := e.mayEnroll(r.Context(), s)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	data, err := responseData(b.Response)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	remote := e.cfg.RemoteAddr(r)
	c, err := f.FinishEnroll(r.Context(), identity.Response{ChallengeID: id, Subject: subject,
		Origin: e.m.cfg.Origin, Data: data, Name: b.Name, RemoteAddr: remote})
	if err != nil {
		e.fail(w, r, err)
		return
	}
	out := credentialJSON{Kind: c.Kind, CredentialID: c.ID, Name: c.Name}
	if !e.cfg.KeepOtherSessions {
		// A new way into the account: every other session of it ends,
		// this one stays (OWASP ASVS 5.0 V7.4.3; 4.0.3 V3.3.3 asked it
		// after a password change). The credential is stored by now, so a
		// failure here is logged and audited (endSessions), not answered
		// as a failed enrolment.
		n, err := e.m.endSessions(r.Context(), subject, s.rec.ID, "second factor added ("+string(c.Kind)+")", remote)
		if err != nil {
			e.m.log.LogAttrs(r.Context(), slog.LevelError, "httpauth: enrolment could not end the account's other sessions",
				slog.String("subject", string(subject)), slog.String("error", err.Error()))
		} else {
			out.EndedSessions = &n
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// approver is the registered factor the path names, if it can approve
// payments under the policy.
func (e *Endpoints) approver(r *http.Request) (Approver, error) {
	f, err := e.factor(r)
	if err != nil {
		return nil, err
	}
	a, ok := f.(Approver)
	if !ok || !slices.Contains(e.approvalKinds(), f.Kind()) {
		return nil, fmt.Errorf("%w (%s)", identity.ErrCannotLink, f.Kind())
	}
	return a, nil
}

// approvalKinds are the factors the policy lets approve a payment.
func (e *Endpoints) approvalKinds() []identity.Kind {
	if k := e.m.policy.ApprovalKinds; len(k) > 0 {
		return k
	}
	return identity.DefaultApprovalKinds()
}

// pending is the payment the application says is awaiting approval.
func (e *Endpoints) pending(r *http.Request, s *Session) (*identity.Transaction, error) {
	tx, err := e.cfg.PendingPayment(r, s)
	if err != nil {
		return nil, err
	}
	if tx == nil {
		return nil, fmt.Errorf("%w: httpauth: no payment is pending", identity.ErrExpired)
	}
	return tx, nil
}

func (e *Endpoints) approveBegin(w http.ResponseWriter, r *http.Request) {
	if err := decode(r, &emptyBody{}); err != nil {
		e.fail(w, r, err)
		return
	}
	a, err := e.approver(r)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	s, err := e.m.Load(r)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	if err := e.m.Authorize(s, ActionApprove); err != nil {
		e.fail(w, r, err)
		return
	}
	tx, err := e.pending(r, s)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	ch, err := a.BeginApprove(r.Context(), identity.Request{Subject: s.Subject(), Origin: e.m.cfg.Origin,
		RemoteAddr: e.cfg.RemoteAddr(r), Transaction: tx})
	if errors.Is(err, identity.ErrNotEnrolled) {
		// The login is complete, so the account is its holder's: saying it
		// has no such factor tells them nothing they may not know, where the
		// wrong-answer message would tell them nothing at all.
		err = fmt.Errorf("%w: %w", errNoApprover, err)
	}
	var out challengeJSON
	if err == nil {
		out, err = e.challenge(r, s, ch)
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, approvalChallengeJSON{out, tx})
}

func (e *Endpoints) approveFinish(w http.ResponseWriter, r *http.Request) {
	var b approveFinishBody
	if err := decode(r, &b); err != nil {
		e.fail(w, r, err)
		return
	}
	a, err := e.approver(r)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	s, err := e.m.Load(r)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	login := s.Login()
	if login == nil {
		e.fail(w, r, e.m.Authorize(s, ActionApprove))
		return
	}
	id, err := boundChallenge(s, b.ChallengeID)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	data, err := responseData(b.Response)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	if b.Transaction == nil {
		e.fail(w, r, fmt.Errorf("%w: httpauth: the request names no transaction", identity.ErrTransactionMismatch))
		return
	}
	ctx := r.Context()
	tx, err := e.pending(r, s)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	shown := *b.Transaction
	resp := identity.Response{ChallengeID: id, Subject: s.Subject(), Origin: e.m.cfg.Origin,
		Data: data, RemoteAddr: e.cfg.RemoteAddr(r), Transaction: tx}
	if same, err := sameTransaction(shown, *tx); err != nil || !same {
		// The page showed another payment than the one the application
		// holds. The factor hears of it with what the client claims, so
		// that the core refuses, audits and burns the challenge; whatever
		// it answers, nothing is approved.
		resp.Transaction = &shown
		_, ferr := a.FinishApprove(ctx, resp)
		if err == nil {
			err = fmt.Errorf("%w: httpauth: the page showed another payment than the pending one (factor: %v)", identity.ErrTransactionMismatch, ferr)
		}
		e.fail(w, r, err)
		return
	}
	proof, err := a.FinishApprove(ctx, resp)
	if err != nil {
		e.failAnswer(w, r, s, identity.Kind(r.PathValue("kind")), err)
		return
	}
	if err := e.m.policy.Approve(login, *proof, *tx); err != nil {
		e.fail(w, r, err)
		return
	}
	if err := e.cfg.PaymentApproved(r, s, *tx, *proof); err != nil {
		e.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, approvalJSON{Approved: true, Kind: proof.Kind, CredentialID: proof.CredentialID, Transaction: tx})
}

// sameTransaction compares two payments by their digests, so that what
// differs only in form ("100.5" and "100.50" EUR) is the same payment.
func sameTransaction(a, b identity.Transaction) (bool, error) {
	da, err := a.Digest()
	if err != nil {
		return false, err
	}
	db, err := b.Digest()
	if err != nil {
		return false, err
	}
	return bytes.Equal(da[:], db[:]), nil
}
