// Package loginsrv is the web application of examples/login: sign-up with a
// password, a second factor of the user's choice (authenticator app, smart
// card through the card agent, security key or passkey, recovery codes) or a
// passkey alone, an account page with the audit trail, and step-up before
// sensitive changes. It is built on puce's public API only, and kept in a
// package of its own so that the browser tests and the load test can run it
// in-process.
package loginsrv

import (
	"context"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/totp"
)

//go:embed templates
var templates embed.FS

// Config configures the server.
type Config struct {
	// Store keeps credentials, challenges, throttle counters and the audit
	// trail (sqlstore: SQLite or PostgreSQL).
	Store identity.Store
	// Sealer encrypts TOTP secrets and recovery code hashes at rest.
	Sealer *identity.Sealer
	// Origin is the site's origin as browsers see it
	// ("http://localhost:8080"). Every challenge is bound to it, and the card
	// agent binds it into the card's signature.
	Origin string
	// SiteName appears in pages and in authenticator apps.
	SiteName string
	// AgentURL is where the card agent listens ("http://127.0.0.1:24727");
	// empty hides card enrolment and login.
	AgentURL string
	// Card configures the card factor (trusted CAs, OCSP). Nil disables it.
	Card *cardauth.Config
	// Clock; nil is the system clock. Tests move it to reach the next TOTP
	// step without waiting.
	Clock identity.Clock
	// Argon2 are the password hashing costs; zero is puce's default. The load
	// test lowers them, since it measures second factors, not passwords.
	Argon2 identity.Argon2Params
	Logger *slog.Logger
	// StepUpAge is how recent a second factor must be for changing the
	// password, issuing recovery codes or managing factors (default 2 min).
	StepUpAge time.Duration
	// CSCAs are the country signing CA certificates that identity
	// documents must chain to (passive authentication); none hides the
	// "verify my identity document" page (onboarding.go).
	CSCAs []*x509.Certificate
	// DocumentKey keys the fingerprint of verified document numbers (32
	// random bytes, kept like a sealer key); random per process when nil,
	// which then recognises a document again only until a restart.
	DocumentKey []byte
	// UsagePolicy, when set, is the text a card holder signs with the
	// card's e-signature key at each login (receipt.go); the receipts are
	// kept. UsagePolicyName names it in pages ("terms of use").
	UsagePolicy     []byte
	UsagePolicyName string
	// RPID is the WebAuthn relying party ID; empty is the origin's host.
	// WebAuthn is off when the origin cannot host it (plain http other than
	// localhost, or an IP address), or with DisableWebAuthn.
	RPID            string
	DisableWebAuthn bool
}

// Server is the login application.
type Server struct {
	cfg       Config
	log       *slog.Logger
	svc       *identity.Services
	passwords *identity.Passwords
	policy    *identity.Policy
	totp      *totp.Factor
	recovery  *totp.Recovery
	card      *cardauth.Factor
	wa        *waFactors // nil: no WebAuthn
	pages     *web.Pages
	sessions  *web.Sessions[state]
	docKey    []byte
	receipts  receipts
}

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

// state is one browser's server-side session data.
type state struct {
	Stage   stage
	Subject identity.Subject
	// Password is the knowledge proof of this login.
	Password *identity.Proof
	// Session is the two-factor session once logged in.
	Session *identity.Session
	// Enrolments in progress. The TOTP URI holds the new secret; it lives
	// in this process's memory only until the enrolment ends.
	TOTPChallenge identity.ChallengeID
	TOTPURI       string
	TOTPQR        []byte
	RecChallenge  identity.ChallengeID
	RecCodes      []string
	// Next is where step-up returns to.
	Next string
	// PolicyDone: this login has dealt with the usage policy (signed it,
	// or has no card to sign with); a new login starts without it.
	PolicyDone bool
}

// Actions that need a fresh second factor.
const (
	actChangePassword = "change-password"
	actRecoveryCodes  = "recovery-codes"
	actManageFactors  = "manage-factors"
)

// New builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Origin == "" {
		return nil, errors.New("loginsrv: Store, Sealer and Origin are required")
	}
	if cfg.SiteName == "" {
		cfg.SiteName = "puce example bank"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StepUpAge == 0 {
		cfg.StepUpAge = 2 * time.Minute
	}
	u, err := url.Parse(cfg.Origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
		return nil, fmt.Errorf("loginsrv: origin %q is not scheme://host[:port]", cfg.Origin)
	}
	throttle := &identity.Throttle{Store: cfg.Store, Clock: cfg.Clock}
	// Every event goes to the hash-chained trail in the database and to the
	// server log.
	audit := identity.Auditors{cfg.Store, identity.SlogAuditor{Logger: cfg.Logger}}
	svc := &identity.Services{Store: cfg.Store, Clock: cfg.Clock, Throttle: throttle, Audit: audit}
	s := &Server{cfg: cfg, log: cfg.Logger, svc: svc,
		passwords: &identity.Passwords{Store: cfg.Store, Throttle: throttle, Audit: audit, Clock: cfg.Clock, Params: cfg.Argon2},
		policy: &identity.Policy{Clock: cfg.Clock, Actions: map[string]identity.StepUp{
			actChangePassword: {Level: identity.Level2, MaxAge: cfg.StepUpAge},
			actRecoveryCodes:  {Level: identity.Level2, MaxAge: cfg.StepUpAge},
			actManageFactors:  {Level: identity.Level2, MaxAge: cfg.StepUpAge},
		}},
		sessions: &web.Sessions[state]{Cookie: "puce_login", Secure: u.Scheme == "https", Now: clockFunc(cfg.Clock)},
		docKey:   documentKey(cfg.DocumentKey),
	}
	if s.totp, err = totp.New(svc, cfg.Sealer, cfg.SiteName); err != nil {
		return nil, err
	}
	if s.recovery, err = totp.NewRecovery(svc, cfg.Sealer, 0); err != nil {
		return nil, err
	}
	if cfg.Card != nil {
		if s.card, err = cardauth.New(svc, *cfg.Card); err != nil {
			return nil, err
		}
	}
	if s.wa, err = newWebAuthn(svc, cfg); err != nil {
		return nil, err
	}
	if s.pages, err = web.ParsePages(templates, "templates"); err != nil {
		return nil, err
	}
	return s, nil
}

func clockFunc(c identity.Clock) func() time.Time {
	if c == nil {
		return nil
	}
	return c.Now
}

func (s *Server) now() time.Time { return s.svc.Now() }

// Handler returns the application's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /signup", s.signupPage)
	mux.HandleFunc("POST /signup", s.post(s.signupPost))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.post(s.loginPost))
	mux.HandleFunc("GET /login/second", s.secondPage)
	mux.HandleFunc("POST /login/second", s.post(s.secondPost))
	mux.HandleFunc("POST /logout", s.post(s.logout))
	mux.HandleFunc("GET /setup", s.setupPage)
	mux.HandleFunc("GET /enroll/totp", s.enrollTOTPPage)
	mux.HandleFunc("POST /enroll/totp", s.post(s.enrollTOTPPost))
	mux.HandleFunc("GET /enroll/card", s.enrollCardPage)
	mux.HandleFunc("POST /enroll/card", s.post(s.enrollCardPost))
	mux.HandleFunc("GET /recovery", s.recoveryPage)
	mux.HandleFunc("POST /recovery", s.post(s.recoveryPost))
	mux.HandleFunc("GET /account", s.accountPage)
	mux.HandleFunc("POST /factor/rename", s.post(s.renamePost))
	mux.HandleFunc("POST /factor/revoke", s.post(s.revokePost))
	mux.HandleFunc("GET /password", s.passwordPage)
	mux.HandleFunc("POST /password", s.post(s.passwordPost))
	mux.HandleFunc("GET /stepup", s.stepupPage)
	mux.HandleFunc("POST /stepup", s.post(s.stepupPost))
	mux.HandleFunc("GET /onboarding", s.onboardingPage)
	mux.HandleFunc("GET /policy", s.policyPage)
	mux.HandleFunc("GET /policy/document", s.policyDocument)
	mux.HandleFunc("POST /policy/prepare", s.policyPrepare)
	mux.HandleFunc("POST /policy/finish", s.policyFinish)
	mux.HandleFunc("GET /policy/receipt/{id}", s.receiptFile)
	s.webauthnRoutes(mux)
	// POST /onboarding: withOnboarding, with a larger body limit.
	return s.withReceipt(s.withOnboarding(http.MaxBytesHandler(mux, 64<<10)))
}

type handler func(w http.ResponseWriter, r *http.Request, sess *web.Session[state])

// post wraps every POST handler: it loads the session and refuses the
// request unless it carries the session's CSRF token.
func (s *Server) post(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.Get(w, r)
		if !web.CheckCSRF(r, sess, s.cfg.Origin) {
			s.render(w, r, sess, http.StatusForbidden, "message.html", "Form expired",
				"This form is out of date or did not come from this site. Go back, reload the page and try again.", nil)
			return
		}
		h(w, r, sess)
	}
}

func (s *Server) snapshot(sess *web.Session[state]) state {
	var st state
	sess.With(func(d *state) { st = *d })
	return st
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, sess *web.Session[state], status int, page, title, errMsg string, data any) {
	s.renderN(w, r, sess, status, page, title, errMsg, "", data)
}

func (s *Server) renderN(w http.ResponseWriter, r *http.Request, sess *web.Session[state], status int, page, title, errMsg, notice string, data any) {
	st := s.snapshot(sess)
	p := web.Page{Site: s.cfg.SiteName, Title: title, CSRF: sess.CSRF, Error: errMsg, Notice: notice, Data: data}
	if notice == "" {
		p.Notice = r.URL.Query().Get("notice")
	}
	if st.Stage == loggedIn {
		p.User = string(st.Subject)
	}
	if page == "second.html" || page == "enroll_card.html" {
		p.Script = "agent.js"
	}
	// webauthn.js comes after agent.js, which the layout loads with any
	// page script.
	if s.wa != nil && (page == "second.html" || page == "login.html" || page == "enroll_webauthn.html") {
		p.Script = "webauthn.js"
	}
	var connect []string
	if s.cfg.AgentURL != "" {
		connect = append(connect, s.cfg.AgentURL)
	}
	s.pages.Render(w, status, page, p, connect...)
}

func redirect(w http.ResponseWriter, r *http.Request, to, notice string) {
	if notice != "" {
		to += "?notice=" + url.QueryEscape(notice)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// fail logs the error as it is and shows its plain-words version.
func (s *Server) fail(r *http.Request, err error) string {
	s.log.Info("refused", "path", r.URL.Path, "err", err)
	return plain(err)
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	switch s.snapshot(sess).Stage {
	case loggedIn:
		redirect(w, r, "/account", "")
	case passwordOK:
		redirect(w, r, "/login/second", "")
	case setup:
		redirect(w, r, "/setup", "")
	default:
		s.render(w, r, sess, 200, "home.html", "Welcome", "", nil)
	}
}

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

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	s.render(w, r, sess, 200, "signup.html", "Create an account", "", nil)
}

func (s *Server) signupPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	user := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	data := map[string]string{"Username": user}
	bad := func(msg string) {
		s.render(w, r, sess, http.StatusBadRequest, "signup.html", "Create an account", msg, data)
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
	err := s.passwords.Create(ctx, identity.Subject(user), pw)
	if errors.Is(err, identity.ErrExists) {
		bad("This user name is taken. Choose another.")
		return
	}
	if err != nil {
		bad(s.fail(r, err))
		return
	}
	s.svc.Record(ctx, identity.Event{Subject: identity.Subject(user), Kind: identity.KindPassword, Action: "signup", Result: identity.Success, RemoteAddr: web.ClientIP(r)}, nil)
	// The new account has no second factor yet: it may enrol its first one
	// on the strength of the password it has just chosen.
	pwProof := identity.Proof{Subject: identity.Subject(user), Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: s.now()}
	s.sessions.Renew(w, sess, state{Stage: setup, Subject: identity.Subject(user), Password: &pwProof})
	redirect(w, r, "/setup", "Account created. Now add a second factor: you will need it every time you log in.")
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	s.render(w, r, sess, 200, "login.html", "Log in", "", nil)
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	user := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	data := map[string]string{"Username": user}
	proof, err := s.passwords.Verify(r.Context(), identity.Subject(user), r.PostFormValue("password"), web.ClientIP(r))
	if err != nil {
		msg := s.fail(r, err)
		// Unknown user and wrong password read the same, so the page does
		// not tell who has an account.
		if errors.Is(err, identity.ErrNotEnrolled) || errors.Is(err, identity.ErrInvalidResponse) || errors.Is(err, identity.ErrBadInput) {
			msg = "The user name or the password is not right."
		}
		s.render(w, r, sess, http.StatusUnauthorized, "login.html", "Log in", msg, data)
		return
	}
	kinds, err := s.kinds(r.Context(), proof.Subject)
	if err != nil {
		s.render(w, r, sess, 500, "login.html", "Log in", s.fail(r, err), data)
		return
	}
	if !kinds[identity.KindTOTP] && !kinds[identity.KindCard] && !(kinds[identity.KindWebAuthn] && s.wa != nil) {
		// An account that never finished sign-up has no second factor: let
		// it enrol one now, as sign-up would have.
		s.sessions.Renew(w, sess, state{Stage: setup, Subject: proof.Subject, Password: proof})
		redirect(w, r, "/setup", "Your account has no second factor yet. Add one to finish setting it up.")
		return
	}
	s.sessions.Renew(w, sess, state{Stage: passwordOK, Subject: proof.Subject, Password: proof})
	redirect(w, r, "/login/second", "")
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if st.Subject != "" {
		s.svc.Record(r.Context(), identity.Event{Subject: st.Subject, Action: "logout", Result: identity.Success, RemoteAddr: web.ClientIP(r)}, nil)
	}
	s.sessions.Renew(w, sess, state{})
	redirect(w, r, "/login", "You are logged out.")
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
	if kinds[identity.KindCard] && s.card != nil && s.cfg.AgentURL != "" {
		ms = append(ms, method{"card", "Smart card (PIN typed in the card agent)"})
	}
	if kinds[identity.KindWebAuthn] && s.wa != nil {
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
func (s *Server) secondForm(w http.ResponseWriter, r *http.Request, sess *web.Session[state], mode, chosen, errMsg string, status int) {
	st := s.snapshot(sess)
	kinds, err := s.kinds(r.Context(), st.Subject)
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
		ch, err := f.Begin(r.Context(), identity.Request{Subject: st.Subject, Origin: s.cfg.Origin, RemoteAddr: web.ClientIP(r)})
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

func (s *Server) secondPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	if s.snapshot(sess).Stage != passwordOK {
		redirect(w, r, "/", "")
		return
	}
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
		Data: []byte(strings.TrimSpace(data)), RemoteAddr: web.ClientIP(r)})
	return m, proof, err
}

func (s *Server) secondPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if st.Stage != passwordOK {
		redirect(w, r, "/", "")
		return
	}
	m, proof, err := s.finishSecond(r, st.Subject, "login")
	if err != nil {
		s.secondForm(w, r, sess, "login", m, s.fail(r, err), http.StatusUnauthorized)
		return
	}
	session, err := s.policy.Combine(*st.Password, *proof)
	switch {
	case err == nil:
		s.sessions.Renew(w, sess, state{Stage: loggedIn, Subject: st.Subject, Session: session})
		redirect(w, r, "/account", fmt.Sprintf("Logged in with two factors (%s, eIDAS %s).", session.Level, session.Level.EIDAS()))
	case errors.Is(err, identity.ErrStepUpRequired) && proof.Kind == identity.KindRecovery:
		// A recovery code is enough to enrol a new authenticator, not to
		// use the account.
		s.sessions.Renew(w, sess, state{Stage: setup, Subject: st.Subject, Password: st.Password})
		redirect(w, r, "/setup", fmt.Sprintf("Recovery code accepted (%s left). Set up a new second factor now; then log in with it.", proof.Claims[totp.ClaimRemaining]))
	default:
		s.secondForm(w, r, sess, "login", m, s.fail(r, err), http.StatusUnauthorized)
	}
}

// authorize checks that the logged-in session may do action now; when it
// needs a fresh second factor it sends the browser to step-up, which comes
// back to next.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, sess *web.Session[state], action, next string) bool {
	st := s.snapshot(sess)
	if st.Stage != loggedIn {
		redirect(w, r, "/login", "Please log in first.")
		return false
	}
	var err error
	sess.With(func(d *state) { err = s.policy.Authorize(d.Session, action) })
	if err == nil {
		return true
	}
	if errors.Is(err, identity.ErrStepUpRequired) {
		sess.With(func(d *state) { d.Next = next })
		redirect(w, r, "/stepup", "")
		return false
	}
	s.render(w, r, sess, 500, "message.html", "Not allowed", s.fail(r, err), nil)
	return false
}

func (s *Server) stepupPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	if s.snapshot(sess).Stage != loggedIn {
		redirect(w, r, "/login", "")
		return
	}
	s.secondForm(w, r, sess, "stepup", r.URL.Query().Get("method"), "", 200)
}

func (s *Server) stepupPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if st.Stage != loggedIn {
		redirect(w, r, "/login", "")
		return
	}
	m, proof, err := s.finishSecond(r, st.Subject, "stepup")
	if err == nil {
		sess.With(func(d *state) { err = s.policy.Add(d.Session, *proof) })
	}
	if err != nil {
		s.secondForm(w, r, sess, "stepup", m, s.fail(r, err), http.StatusUnauthorized)
		return
	}
	next := st.Next
	switch next {
	case "/password", "/recovery", "/enroll/totp", "/enroll/card", "/enroll/key", "/enroll/passkey", "/account":
	default:
		next = "/account"
	}
	redirect(w, r, next, "Confirmed. You can go ahead.")
}

// ---- enrolment --------------------------------------------------------

// mayEnroll reports whether the session may add an authenticator: during
// setup (no factor yet, or after a recovery code), or logged in with a fresh
// second factor.
func (s *Server) mayEnroll(w http.ResponseWriter, r *http.Request, sess *web.Session[state], next string) bool {
	switch s.snapshot(sess).Stage {
	case setup:
		return true
	case loggedIn:
		return s.authorize(w, r, sess, actManageFactors, next)
	}
	redirect(w, r, "/login", "Please log in first.")
	return false
}

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	st := s.snapshot(sess)
	if st.Stage != setup && st.Stage != loggedIn {
		redirect(w, r, "/login", "")
		return
	}
	s.render(w, r, sess, 200, "setup.html", "Add a second factor", "", map[string]any{
		"Card": s.card != nil && s.cfg.AgentURL != "", "WebAuthn": s.wa != nil, "Subject": st.Subject, "Setup": st.Stage == setup})
}

// enrolled ends an enrolment: in setup, the user now logs in with the new
// factor; logged in, back to the account page.
func (s *Server) enrolled(w http.ResponseWriter, r *http.Request, sess *web.Session[state], kind, method string) {
	st := s.snapshot(sess)
	if st.Stage == setup {
		s.sessions.Renew(w, sess, state{Stage: passwordOK, Subject: st.Subject, Password: st.Password})
		redirect(w, r, "/login/second", fmt.Sprintf("%s added. To finish logging in, use it now.", kind))
		return
	}
	redirect(w, r, "/account", kind+" added.")
}

type totpData struct {
	QR      []byte
	Secret  string
	Account string
	Name    string
}

func (s *Server) enrollTOTPPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	if !s.mayEnroll(w, r, sess, "/enroll/totp") {
		return
	}
	st := s.snapshot(sess)
	ch, err := s.totp.BeginEnroll(r.Context(), identity.Request{Subject: st.Subject, Origin: s.cfg.Origin, UserName: string(st.Subject), RemoteAddr: web.ClientIP(r)})
	var qr []byte
	if err == nil {
		qr, err = s.totp.QRCode(ch)
	}
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Authenticator app", s.fail(r, err), nil)
		return
	}
	sess.With(func(d *state) { d.TOTPChallenge, d.TOTPURI, d.TOTPQR = ch.ID, string(ch.Payload), qr })
	s.renderTOTP(w, r, sess, 200, "")
}

func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, sess *web.Session[state], status int, errMsg string) {
	st := s.snapshot(sess)
	d := totpData{QR: st.TOTPQR, Account: string(st.Subject), Name: r.PostFormValue("name")}
	if k, err := totp.ParseURI(st.TOTPURI); err == nil {
		d.Secret = k.Base32()
	}
	s.render(w, r, sess, status, "enroll_totp.html", "Set up an authenticator app", errMsg, d)
}

func (s *Server) enrollTOTPPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if (st.Stage != setup && st.Stage != loggedIn) || st.TOTPChallenge.IsZero() {
		redirect(w, r, "/", "")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = "Authenticator app"
	}
	_, err := s.totp.FinishEnroll(r.Context(), identity.Response{ChallengeID: st.TOTPChallenge, Subject: st.Subject, Origin: s.cfg.Origin,
		Data: []byte(strings.TrimSpace(r.PostFormValue("code"))), Name: name, RemoteAddr: web.ClientIP(r)})
	switch {
	case err == nil:
		sess.With(func(d *state) { d.TOTPChallenge, d.TOTPURI, d.TOTPQR = identity.ChallengeID{}, "", nil })
		s.enrolled(w, r, sess, "Authenticator app", "totp")
	case errors.Is(err, identity.ErrBadInput):
		// A malformed code or name changed nothing: same QR code, try again.
		s.renderTOTP(w, r, sess, http.StatusBadRequest, s.fail(r, err))
	default:
		// A wrong code used the enrolment up: the user starts over with a
		// new secret, and must scan the new QR code.
		sess.With(func(d *state) { d.TOTPChallenge, d.TOTPURI, d.TOTPQR = identity.ChallengeID{}, "", nil })
		s.render(w, r, sess, http.StatusUnauthorized, "message.html", "Set up an authenticator app",
			s.fail(r, err)+" For your safety this setup was cancelled: start again, and scan the new QR code.",
			map[string]string{"Link": "/enroll/totp", "LinkText": "Start again"})
	}
}

type cardData struct {
	Challenge, Nonce, Agent, Origin string
}

func (s *Server) enrollCardPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	if s.card == nil || s.cfg.AgentURL == "" {
		s.render(w, r, sess, 404, "message.html", "Smart card", "Card login is not configured on this server.", nil)
		return
	}
	if !s.mayEnroll(w, r, sess, "/enroll/card") {
		return
	}
	s.renderCard(w, r, sess, 200, "")
}

func (s *Server) renderCard(w http.ResponseWriter, r *http.Request, sess *web.Session[state], status int, errMsg string) {
	st := s.snapshot(sess)
	ch, err := s.card.BeginEnroll(r.Context(), identity.Request{Subject: st.Subject, Origin: s.cfg.Origin, UserName: string(st.Subject), RemoteAddr: web.ClientIP(r)})
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Smart card", s.fail(r, err), nil)
		return
	}
	s.render(w, r, sess, status, "enroll_card.html", "Register your smart card", errMsg,
		cardData{Challenge: ch.ID.String(), Nonce: string(ch.Payload), Agent: s.cfg.AgentURL, Origin: s.cfg.Origin})
}

func (s *Server) enrollCardPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if s.card == nil || (st.Stage != setup && st.Stage != loggedIn) {
		redirect(w, r, "/", "")
		return
	}
	id, err := identity.ParseChallengeID(r.PostFormValue("challenge"))
	if err == nil {
		_, err = s.card.FinishEnroll(r.Context(), identity.Response{ChallengeID: id, Subject: st.Subject, Origin: s.cfg.Origin,
			Data: []byte(r.PostFormValue("token")), Name: strings.TrimSpace(r.PostFormValue("name")), RemoteAddr: web.ClientIP(r)})
	}
	if err != nil {
		s.renderCard(w, r, sess, http.StatusUnauthorized, s.fail(r, err))
		return
	}
	s.enrolled(w, r, sess, "Smart card", "card")
}

func (s *Server) recoveryPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	if !s.authorize(w, r, sess, actRecoveryCodes, "/recovery") {
		return
	}
	st := s.snapshot(sess)
	ch, err := s.recovery.BeginEnroll(r.Context(), identity.Request{Subject: st.Subject, Origin: s.cfg.Origin, RemoteAddr: web.ClientIP(r)})
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Recovery codes", s.fail(r, err), nil)
		return
	}
	codes := totp.RecoveryCodes(ch)
	sess.With(func(d *state) { d.RecChallenge, d.RecCodes = ch.ID, codes })
	s.render(w, r, sess, 200, "recovery.html", "Your recovery codes", "", codes)
}

func (s *Server) recoveryPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if st.Stage != loggedIn || st.RecChallenge.IsZero() {
		redirect(w, r, "/account", "")
		return
	}
	_, err := s.recovery.FinishEnroll(r.Context(), identity.Response{ChallengeID: st.RecChallenge, Subject: st.Subject, Origin: s.cfg.Origin,
		Data: []byte(strings.TrimSpace(r.PostFormValue("code"))), RemoteAddr: web.ClientIP(r)})
	if errors.Is(err, identity.ErrBadInput) {
		s.render(w, r, sess, http.StatusBadRequest, "recovery.html", "Your recovery codes", "Type one of the codes exactly as shown, digits only or with its dashes.", st.RecCodes)
		return
	}
	sess.With(func(d *state) { d.RecChallenge, d.RecCodes = identity.ChallengeID{}, nil })
	if err != nil {
		s.render(w, r, sess, http.StatusUnauthorized, "message.html", "Recovery codes",
			s.fail(r, err)+" These codes were not saved; make a new set.", map[string]string{"Link": "/recovery", "LinkText": "Make a new set"})
		return
	}
	redirect(w, r, "/account", "Recovery codes saved. Each works once; keep them somewhere safe.")
}

// ---- account ----------------------------------------------------------

type factorRow struct {
	Kind, KindLabel, ID, Name, Detail string
	Created, LastUsed                 time.Time
}

type accountData struct {
	Factors       []factorRow
	Recovery      int
	Card          bool
	WebAuthn      bool
	Audit         []identity.AuditRecord
	ChainOK       bool
	ChainHead     string
	ChainError    string
	Level, EIDAS  string
	AuthTime      time.Time
	PasswordSince time.Time
	// Onboarding: the page is offered; Document is the verified one.
	Onboarding bool
	Document   *DocumentRecord
	// Receipts are the signed usage-policy receipts, newest first.
	Receipts []receiptRow
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	st := s.snapshot(sess)
	if st.Stage != loggedIn {
		redirect(w, r, "/", "")
		return
	}
	d, err := s.account(r.Context(), st)
	if err != nil {
		s.render(w, r, sess, 500, "message.html", "Your account", s.fail(r, err), nil)
		return
	}
	s.render(w, r, sess, 200, "account.html", "Your account", "", d)
}

func (s *Server) account(ctx context.Context, st state) (*accountData, error) {
	creds, err := s.cfg.Store.Credentials(ctx, st.Subject, "")
	if err != nil {
		return nil, err
	}
	d := &accountData{Card: s.card != nil && s.cfg.AgentURL != "", WebAuthn: s.wa != nil, Level: st.Session.Level.String(), EIDAS: st.Session.Level.EIDAS().String(), AuthTime: st.Session.AuthTime(),
		Onboarding: len(s.cfg.CSCAs) > 0 && s.cfg.AgentURL != "", Document: latestDocument(creds), Receipts: receiptRows(creds)}
	for _, c := range creds {
		switch c.Kind {
		case KindIdentityDocument, KindPolicyReceipt:
			continue // not factors: shown apart
		case identity.KindRecovery:
			d.Recovery++
			continue
		case identity.KindPassword:
			d.PasswordSince = c.CreatedAt
			continue
		}
		if !c.Active {
			continue
		}
		row := factorRow{Kind: string(c.Kind), ID: c.ID, Name: c.Name, Created: c.CreatedAt, LastUsed: c.LastUsedAt, KindLabel: string(c.Kind)}
		switch c.Kind {
		case identity.KindTOTP:
			row.KindLabel = "Authenticator app"
		case identity.KindCard:
			row.KindLabel = "Smart card"
			if card, err := cardauth.CardOf(&c); err == nil {
				row.Detail = fmt.Sprintf("%s, serial %s, valid until %s (%s)", card.Subject, card.Serial, card.NotAfter.Format("2006-01-02"), card.Mode)
			}
		case identity.KindWebAuthn:
			row.KindLabel, row.Detail = waLabel(&c)
		}
		d.Factors = append(d.Factors, row)
	}
	if d.Audit, err = s.cfg.Store.AuditEvents(ctx, st.Subject, 50); err != nil {
		return nil, err
	}
	head, err := s.cfg.Store.VerifyAudit(ctx)
	if err != nil {
		d.ChainError = err.Error()
	} else {
		d.ChainOK, d.ChainHead = true, fmt.Sprintf("%x", head)
	}
	return d, nil
}

// credential loads one of the logged-in user's own possession factors named
// by the form; the subject comes from the session, so nobody can touch
// another account's credential by editing the form.
func (s *Server) credential(r *http.Request, subject identity.Subject) (*identity.Credential, error) {
	kind := identity.Kind(r.PostFormValue("kind"))
	if !secondFactor(kind) {
		return nil, fmt.Errorf("%w: kind", identity.ErrBadInput)
	}
	return s.cfg.Store.Credential(r.Context(), identity.CredentialRef{Subject: subject, Kind: kind, ID: r.PostFormValue("id")})
}

func (s *Server) renamePost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	st := s.snapshot(sess)
	if st.Stage != loggedIn {
		redirect(w, r, "/login", "")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	c, err := s.credential(r, st.Subject)
	if err == nil && (name == "" || len(name) > 64) {
		err = fmt.Errorf("%w: name", identity.ErrBadInput)
	}
	if err == nil {
		err = identity.EditCredential(r.Context(), s.cfg.Store, c, func(c *identity.Credential) error {
			c.Name = name
			return nil
		})
		err = s.svc.Record(r.Context(), identity.Event{Subject: st.Subject, Kind: c.Kind, CredentialID: c.ID, Action: "rename", RemoteAddr: web.ClientIP(r), Result: result(err)}, err)
	}
	if err != nil {
		redirect(w, r, "/account", "Not renamed: "+s.fail(r, err))
		return
	}
	redirect(w, r, "/account", "Renamed.")
}

func result(err error) identity.Result {
	if err != nil {
		return identity.Failure
	}
	return identity.Success
}

func (s *Server) revokePost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	if !s.authorize(w, r, sess, actManageFactors, "/account") {
		return
	}
	st := s.snapshot(sess)
	c, err := s.credential(r, st.Subject)
	if err != nil {
		redirect(w, r, "/account", "Not removed: "+s.fail(r, err))
		return
	}
	creds, err := s.cfg.Store.Credentials(r.Context(), st.Subject, "")
	if err != nil {
		redirect(w, r, "/account", "Not removed: "+s.fail(r, err))
		return
	}
	others := 0
	for _, o := range creds {
		if o.Active && secondFactor(o.Kind) && (o.Kind != c.Kind || o.ID != c.ID) {
			others++
		}
	}
	if others == 0 {
		redirect(w, r, "/account", "This is your only second factor: add another one before you remove it.")
		return
	}
	err = s.cfg.Store.DeleteCredential(r.Context(), c.Ref())
	err = s.svc.Record(r.Context(), identity.Event{Subject: st.Subject, Kind: c.Kind, CredentialID: c.ID, Action: "revoke", RemoteAddr: web.ClientIP(r), Result: result(err)}, err)
	if err != nil {
		redirect(w, r, "/account", "Not removed: "+s.fail(r, err))
		return
	}
	redirect(w, r, "/account", fmt.Sprintf("%q removed: it can no longer be used to log in.", c.Name))
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.Get(w, r)
	if !s.authorize(w, r, sess, actChangePassword, "/password") {
		return
	}
	s.render(w, r, sess, 200, "password.html", "Change your password", "", nil)
}

func (s *Server) passwordPost(w http.ResponseWriter, r *http.Request, sess *web.Session[state]) {
	// The step-up check runs again on the POST: the form may have been
	// loaded long ago.
	if !s.authorize(w, r, sess, actChangePassword, "/password") {
		return
	}
	st := s.snapshot(sess)
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	if pw != pw2 {
		s.render(w, r, sess, http.StatusBadRequest, "password.html", "Change your password", "The two passwords differ. Type the same password twice.", nil)
		return
	}
	err := s.passwords.Set(r.Context(), st.Subject, pw)
	err = s.svc.Record(r.Context(), identity.Event{Subject: st.Subject, Kind: identity.KindPassword, Action: "password-change", RemoteAddr: web.ClientIP(r), Result: result(err)}, err)
	if err != nil {
		s.render(w, r, sess, http.StatusBadRequest, "password.html", "Change your password", s.fail(r, err), nil)
		return
	}
	redirect(w, r, "/account", "Password changed.")
}
