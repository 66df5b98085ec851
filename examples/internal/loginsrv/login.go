package loginsrv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/totp"
)

// ---- sign-up and login -------------------------------------------------

func validUsername(u string) bool {
	if len(u) < 2 || len(u) > 64 {
		return false
	}
	for _, c := range u {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)) {
			return false
		}
	}
	return true
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.render(w, r, sess, 200, "signup.html", "Create an account", "", nil)
}

func (s *Server) signupPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	user := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	data := map[string]string{"Username": user}
	bad := func(msg string) {
		s.render(w, r, sess, http.StatusBadRequest, "signup.html", "Create an account", msg, data)
	}
	refused := func(err error) {
		s.render(w, r, sess, status(w, err, http.StatusBadRequest), "signup.html", "Create an account", s.fail(r, err), data)
	}
	switch {
	case !validUsername(user):
		bad("Choose a user name of 2 to 64 characters: lower-case letters, digits, dot, dash, underscore or @.")
		return
	case pw != pw2:
		bad("The two passwords differ. Type the same password twice.")
		return
	}
	ctx := r.Context()
	// Create refuses a name that exists, atomically in the store, so two
	// sign-ups for one name cannot replace each other's password.
	pwProof, err := s.passwords.Create(ctx, identity.Subject(user), pw, s.m.ClientAddr(r))
	if errors.Is(err, identity.ErrExists) {
		bad("This user name is taken. Choose another.")
		return
	}
	if err != nil {
		refused(err)
		return
	}
	// The account exists now: whatever the client's connection has left of
	// the server's write timeout, it must hear so (issue 17: a sign-up that
	// waited long had its connection closed after its account was made).
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Second))
	// The new account has no second factor yet: it may enrol its first one
	// on the strength of the password it has just chosen (Create audited
	// the sign-up and returned its proof).
	if err := s.firstFactor(w, r, sess, pwProof, true); err != nil {
		s.sessionFault(w, r, sess, err)
		return
	}
	s.redirect(w, r, "/setup", "Account created. Now add a second factor: you will need it every time you log in.")
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.render(w, r, sess, 200, "login.html", "Log in", "", nil)
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	user := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	data := map[string]string{"Username": user}
	proof, err := s.passwords.Verify(r.Context(), identity.Subject(user), r.PostFormValue("password"), s.m.ClientAddr(r))
	if err != nil {
		msg := s.fail(r, err)
		// Unknown user and wrong password read the same, so the page does
		// not tell who has an account.
		if errors.Is(err, identity.ErrNotEnrolled) || errors.Is(err, identity.ErrInvalidResponse) || errors.Is(err, identity.ErrBadInput) {
			msg = "The user name or the password is not right."
		}
		s.render(w, r, sess, status(w, err, http.StatusUnauthorized), "login.html", "Log in", msg, data)
		return
	}
	creds, err := s.cfg.Store.Credentials(r.Context(), proof.Subject, "")
	if err == nil {
		// The policy decides from what the account has, not from what this
		// server has switched on: an account whose only second factor is
		// unavailable here is refused, never sent to enrol a new one on the
		// password alone (issue 17).
		_, err = s.policy.SecondFactors(creds, s.usable)
	}
	switch {
	case errors.Is(err, identity.ErrNotEnrolled):
		// An account that never finished sign-up has no second factor: let
		// it enrol one now, as sign-up would have.
		if err := s.firstFactor(w, r, sess, proof, true); err != nil {
			s.sessionFault(w, r, sess, err)
			return
		}
		s.redirect(w, r, "/setup", "Your account has no second factor yet. Add one to finish setting it up.")
	case errors.Is(err, identity.ErrFactorUnavailable):
		s.fail(r, err)
		s.render(w, r, sess, http.StatusServiceUnavailable, "login.html", "Log in",
			"Your second factor cannot be used on this server at the moment, so you cannot log in now. Try again later, or contact support.", data)
	case err != nil:
		s.render(w, r, sess, 500, "login.html", "Log in", s.fail(r, err), data)
	default:
		if err := s.firstFactor(w, r, sess, proof, false); err != nil {
			s.sessionFault(w, r, sess, err)
			return
		}
		s.redirect(w, r, "/login/second", "")
	}
}

// usable reports whether this server can run a second factor of kind k now.
func (s *Server) usable(k identity.Kind) bool {
	switch k {
	case identity.KindTOTP:
		return true
	case identity.KindCard:
		return s.card != nil && s.cfg.AgentURL != ""
	case identity.KindWebAuthn:
		return s.wa != nil
	}
	return false
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	if subject := sess.Subject(); subject != "" {
		s.svc.Record(r.Context(), identity.Event{Subject: subject, Action: "logout", Result: identity.Success, RemoteAddr: s.m.ClientAddr(r)}, nil)
	}
	if err := s.m.Logout(r.Context(), w, sess); err != nil {
		s.log.Warn("logout", "err", err)
	}
	s.redirect(w, r, "/login", "You are logged out.")
}

// kinds lists which factors a subject has enrolled and active.
func (s *Server) kinds(ctx context.Context, subject identity.Subject) (map[identity.Kind]bool, error) {
	creds, err := s.cfg.Store.Credentials(ctx, subject, "")
	if err != nil {
		return nil, err
	}
	m := map[identity.Kind]bool{}
	for _, c := range creds {
		if c.Active {
			m[c.Kind] = true
		}
	}
	return m, nil
}

// ---- second factor: login and step-up -----------------------------------

// secondData is what the second-factor page shows: the methods the user
// has, and the form of the one chosen, with its challenge.
type secondData struct {
	Mode      string // "login" or "stepup"
	Action    string // form action
	Methods   []method
	Method    string
	Challenge string
	Nonce     string
	Agent     string
	Origin    string
	// Options are the WebAuthn request options (JSON) for the page's script.
	Options string
}

type method struct{ ID, Label string }

func (s *Server) methods(kinds map[identity.Kind]bool, mode string) []method {
	var ms []method
	if kinds[identity.KindTOTP] {
		ms = append(ms, method{"totp", "Code from your authenticator app"})
	}
	if kinds[identity.KindCard] && s.usable(identity.KindCard) {
		ms = append(ms, method{"card", "Smart card (PIN typed in the card agent)"})
	}
	if kinds[identity.KindWebAuthn] && s.usable(identity.KindWebAuthn) {
		ms = append(ms, method{"webauthn", "Security key or passkey"})
	}
	if kinds[identity.KindRecovery] && mode == "login" {
		ms = append(ms, method{"recovery", "A recovery code"})
	}
	return ms
}

func (s *Server) factorFor(m string) identity.Authenticator {
	switch m {
	case "totp":
		return s.totp
	case "recovery":
		return s.recovery
	case "card":
		if s.card != nil {
			return s.card
		}
	case "webauthn":
		if s.wa != nil {
			return s.wa.keys
		}
	}
	return nil
}

// secondForm begins a ceremony with the chosen method and renders its form.
func (s *Server) secondForm(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, mode, chosen, errMsg string, status int) {
	subject := sess.Subject()
	kinds, err := s.kinds(r.Context(), subject)
	if err != nil {
		errMsg = s.fail(r, err)
	}
	d := secondData{Mode: mode, Action: "/login/second", Methods: s.methods(kinds, mode), Agent: s.cfg.AgentURL, Origin: s.cfg.Origin}
	title := "Second step: prove it is you"
	if mode == "stepup" {
		d.Action, title = "/stepup", "Confirm it is you"
	}
	if chosen == "" && len(d.Methods) > 0 {
		chosen = d.Methods[0].ID
	}
	allowed := false
	for _, m := range d.Methods {
		allowed = allowed || m.ID == chosen
	}
	if f := s.factorFor(chosen); f != nil && allowed {
		ch, err := f.Begin(r.Context(), identity.Request{Subject: subject, Origin: s.cfg.Origin, RemoteAddr: s.m.ClientAddr(r)})
		if err != nil {
			errMsg = s.fail(r, err)
		} else {
			d.Method, d.Challenge = chosen, ch.ID.String()
			switch chosen {
			case "card":
				d.Nonce = string(ch.Payload)
			case "webauthn":
				d.Options = string(ch.Payload)
			}
		}
	}
	s.render(w, r, sess, status, "second.html", title, errMsg, d)
}

func (s *Server) secondPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.secondForm(w, r, sess, "login", r.URL.Query().Get("method"), "", 200)
}

// finishSecond checks the answer posted to a second-factor form.
func (s *Server) finishSecond(r *http.Request, subject identity.Subject, mode string) (string, *identity.Proof, error) {
	m := r.PostFormValue("method")
	f := s.factorFor(m)
	if f == nil || (mode == "stepup" && m == "recovery") {
		return m, nil, fmt.Errorf("%w: unknown method", identity.ErrBadInput)
	}
	id, err := identity.ParseChallengeID(r.PostFormValue("challenge"))
	if err != nil {
		return m, nil, err
	}
	data := r.PostFormValue("code")
	switch m {
	case "card":
		data = r.PostFormValue("token")
	case "webauthn":
		data = r.PostFormValue("credential")
	}
	proof, err := f.Finish(r.Context(), identity.Response{ChallengeID: id, Subject: subject, Origin: s.cfg.Origin,
		Data: []byte(strings.TrimSpace(data)), RemoteAddr: s.m.ClientAddr(r)})
	return m, proof, err
}

func (s *Server) secondPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	m, proof, err := s.finishSecond(r, sess.Subject(), "login")
	if err != nil {
		s.secondForm(w, r, sess, "login", m, s.fail(r, err)+s.triesLeft(r, sess, m, err), status(w, err, http.StatusUnauthorized))
		return
	}
	// The password proof waits in the session (httpauth); with this one
	// the login is complete, on a new session ID.
	session, err := s.m.AddProof(r.Context(), w, sess, *proof)
	switch {
	case err == nil:
		s.redirect(w, r, "/account", fmt.Sprintf("Logged in with two factors (%s, eIDAS %s).", session.Level, session.Level.EIDAS()))
	case errors.Is(err, identity.ErrStepUpRequired) && proof.Kind == identity.KindRecovery && s.password(sess) != nil:
		// A recovery code is enough to enrol a new authenticator, not to
		// use the account.
		if err := s.set(r.Context(), sess, valSetup, "1"); err != nil {
			s.sessionFault(w, r, sess, err)
			return
		}
		s.redirect(w, r, "/setup", fmt.Sprintf("Recovery code accepted (%s left). Set up a new second factor now; then log in with it.", proof.Claims[totp.ClaimRemaining]))
	default:
		s.secondForm(w, r, sess, "login", m, s.fail(r, err), http.StatusUnauthorized)
	}
}

func (s *Server) stepupPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.secondForm(w, r, sess, "stepup", r.URL.Query().Get("method"), "", 200)
}

func (s *Server) stepupPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	next := sess.Value(valNext)
	m, proof, err := s.finishSecond(r, sess.Subject(), "stepup")
	if err == nil {
		_, err = s.m.AddProof(r.Context(), w, sess, *proof)
	}
	if err != nil {
		s.secondForm(w, r, sess, "stepup", m, s.fail(r, err)+s.triesLeft(r, sess, m, err), status(w, err, http.StatusUnauthorized))
		return
	}
	if next != "/policy" {
		next = s.pageOf(next)
	}
	s.redirect(w, r, next, "Confirmed. You can go ahead.")
}

// triesLeft is what to add to a refused second factor's notice: how many
// more failures the method may have before it locks, as a card says of
// its PIN, when httpauth's Manager.TriesLeft says telling is safe (the
// account is proven by this session's password).
func (s *Server) triesLeft(r *http.Request, sess *httpauth.Session, method string, err error) string {
	f := s.factorFor(method)
	if f == nil {
		return ""
	}
	n, ok := s.m.TriesLeft(r.Context(), s.svc.Throttle, sess, f.Kind(), err)
	switch {
	case !ok:
		return ""
	case n == 1:
		return " 1 try left before this method locks."
	}
	return fmt.Sprintf(" %d tries left before this method locks.", n)
}
