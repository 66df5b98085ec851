package httpauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/puce-id/puce/identity"
)

// TriesLeft says, after err refused a factor's answer in session s, how
// many more consecutive failures of kind the account may have before the
// throttle locks it (identity.Throttle.TriesLeft), so that the page can
// say so as a card says how many PIN tries remain. ok is false when the
// number must not be told:
//
//   - the session has no subject: nobody has proven an account yet (a
//     passkey or card login that names none), and a count would be about
//     an account the caller has not shown to be theirs;
//   - kind is the password: the password step is where a user name is
//     guessed. An unknown account is throttled as a known one is, but a
//     known one's count also holds its owner's own recent failures, which
//     tells that it exists and is in use (OWASP ASVS 5.0 V6.3.8: valid
//     users cannot be deduced from failed authentication; NIST SP 800-63B
//     §5.2.2 limits the failures, and leaves what is shown to the
//     verifier);
//   - err is not a refused answer or a throttle (a malformed request, an
//     expired challenge, a server fault): nothing was counted.
//
// The subject of a session is set by a proof only (AddProof), so a second
// factor's count goes to someone who has proven the account's first one.
func (m *Manager) TriesLeft(ctx context.Context, t *identity.Throttle, s *Session, kind identity.Kind, err error) (n int, ok bool) {
	if t == nil || s == nil || s.Subject() == "" || kind == identity.KindPassword || err == nil ||
		errors.Is(err, identity.ErrNoSession) {
		return 0, false
	}
	if status, _ := Public(err); status != http.StatusUnauthorized && !errors.Is(err, identity.ErrThrottled) {
		return 0, false
	}
	n, terr := t.TriesLeft(ctx, s.Subject(), kind)
	if terr != nil {
		m.log.WarnContext(ctx, "httpauth: tries left", "error", terr.Error())
		return 0, false
	}
	return n, true
}

// failAnswer answers err for a factor's finish in s, with the tries left
// when TriesLeft may tell them.
func (e *Endpoints) failAnswer(w http.ResponseWriter, r *http.Request, s *Session, kind identity.Kind, err error) {
	if n, ok := e.m.TriesLeft(r.Context(), e.cfg.Throttle, s, kind, err); ok {
		e.m.writeError(w, r, err, &n)
		return
	}
	e.fail(w, r, err)
}
