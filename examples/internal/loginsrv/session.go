package loginsrv

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
)

// Sessions are httpauth's: kept in the identity store (so instances that
// share the database share them), renewed at every change of level, with
// the pending password proof kept until the second factor finishes. This
// file maps them onto the example's stages and keeps its few values.

type stage int

const (
	anonymous stage = iota
	// passwordOK: the password was right; a second factor is due.
	passwordOK
	// setup: the account may enrol an authenticator without a second
	// factor, because it has none yet (just signed up) or the user came in
	// with a recovery code.
	setup
	// loggedIn: a two-factor session.
	loggedIn
)

// The application's session values.
const (
	valSetup    = "setup"    // "1": the password alone may enrol a factor
	valNext     = "next"     // where step-up returns to
	valPolicy   = "policy"   // "done": this login dealt with the usage policy
	valReceipt  = "receipt"  // the usage policy's signing challenge
	valPayment  = "payment"  // the pending payment, JSON
	valPaid     = "paid"     // the notice of the last approved payment
	valTOTP     = "totp"     // challenge "." sealed otpauth URI
	valRecovery = "recovery" // challenge "." sealed recovery codes
	valOCRA     = "ocra"     // question "." sealed key of a token being enrolled
)

// stageOf is where sess stands.
func (s *Server) stageOf(sess *httpauth.Session) stage {
	switch {
	case sess == nil:
		return anonymous
	case sess.Login() != nil:
		return loggedIn
	case s.password(sess) == nil:
		return anonymous
	case sess.Value(valSetup) != "":
		return setup
	}
	return passwordOK
}

// password is the login's pending password proof while it is fresh
// enough to combine with a second factor (httpauth drops older ones).
func (s *Server) password(sess *httpauth.Session) *identity.Proof {
	for _, p := range sess.Pending() {
		if p.Kind == identity.KindPassword && s.now().Sub(p.Time) <= httpauth.DefaultPendingTimeout {
			return &p
		}
	}
	return nil
}

// firstFactor starts a login over on a new session ID with the password
// proof; with enrol set, the account may enrol its first second factor on
// it (sign-up, or an account that never finished it).
func (s *Server) firstFactor(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, proof *identity.Proof, enrol bool) error {
	ctx := r.Context()
	if err := s.m.Reset(ctx, w, sess); err != nil {
		return err
	}
	if _, err := s.m.AddProof(ctx, w, sess, *proof); err != nil && !errors.Is(err, identity.ErrStepUpRequired) {
		return err
	}
	if enrol {
		return s.set(ctx, sess, valSetup, "1")
	}
	return nil
}

// set writes session values: key, value, key, value…
func (s *Server) set(ctx context.Context, sess *httpauth.Session, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		sess.SetValue(kv[i], kv[i+1])
	}
	return s.m.Save(ctx, sess)
}

// sealed keeps a secret of an enrolment under way (a new TOTP key, fresh
// recovery codes) in the session, sealed like the factors' secrets: the
// session lives in the database. tag is kept in clear beside it.
func (s *Server) sealed(sess *httpauth.Session, key, tag string, secret []byte) string {
	ref := identity.CredentialRef{Subject: sess.Subject(), Kind: "session", ID: key + ":" + tag}
	return tag + "." + base64.RawURLEncoding.EncodeToString(s.cfg.Sealer.Seal(secret, ref))
}

// unseal opens what sealed kept under key; ok is false when there is none.
func (s *Server) unseal(sess *httpauth.Session, key string) (tag string, secret []byte, ok bool) {
	tag, b64, found := strings.Cut(sess.Value(key), ".")
	if !found {
		return "", nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err == nil {
		secret, err = s.cfg.Sealer.Open(raw, identity.CredentialRef{Subject: sess.Subject(), Kind: "session", ID: key + ":" + tag})
	}
	if err != nil {
		s.log.Warn("session value does not open", "key", key, "err", err)
		return "", nil, false
	}
	return tag, secret, true
}

// refused answers a request httpauth refused before any handler ran: a
// script gets JSON, a form a page that says what to do.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, err error) {
	if isJSON(r) {
		s.m.WriteError(w, r, err)
		return
	}
	status, _ := httpauth.Public(err)
	s.log.Info("refused", "path", r.URL.Path, "err", err)
	msg := "This form is out of date or did not come from this site. Go back, reload the page and try again."
	if errors.Is(err, httpauth.ErrTooLarge) {
		msg = "What you sent is too large."
	}
	s.render(w, r, nil, status, "message.html", "Form expired", msg, nil)
}

// sessionFault answers a session the store could not read or write.
func (s *Server) sessionFault(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, err error) {
	status, _ := httpauth.Public(err)
	s.render(w, r, sess, status, "message.html", "Please try again", s.fail(r, fmt.Errorf("session: %w", err)), nil)
}
