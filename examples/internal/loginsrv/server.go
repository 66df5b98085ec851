// Package loginsrv is the web application of examples/login: sign-up with a
// password, a second factor of the user's choice (authenticator app, smart
// card through the card agent, security key or passkey, recovery codes) or a
// passkey alone, an account page with the audit trail, step-up before
// sensitive changes, and payments approved with the card, a security key or
// passkey (through the browser's payment dialog, Secure Payment
// Confirmation, where the browser has it: spc.go), or an OCRA signing token
// (payments.go). Sessions, CSRF checks and
// the approval endpoints are identity/httpauth's (session.go maps them onto
// the pages' stages). It is built on puce's public API only, and kept in a
// package of its own so that the browser tests and the load test can run it
// in-process.
package loginsrv

import (
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/totp"
	"github.com/puce-id/puce/totp/ocra"
	"github.com/puce-id/puce/webauthn"
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
	// Throttle limits guessing; nil is DeploymentThrottle's policy.
	Throttle *identity.Throttle
	// Starts bounds ceremony starts per client address and overall
	// (httpauth.Config.Starts; zero: its defaults).
	Starts httpauth.StartLimit
	// TrustedProxies are the reverse proxies in front of the server, whose
	// X-Forwarded-For names the client (httpauth.Config.TrustedProxies):
	// the address the start limit, the throttle and the audit trail use.
	TrustedProxies []netip.Prefix
}

// DeploymentThrottle is the example's lockout policy: it stops guessing
// without handing an anonymous client the power to lock any account for
// good (issue 17 locked one with 17 requests in 71 s under the old default
// of a lock that never ended).
//
//   - Per account and factor: five free failures, then waits from 1 s
//     doubling to 1 min; at 20 failures a 5-minute lock that doubles with
//     each further failure up to a day; at 100 (NIST SP 800-63B §5.2.2) a
//     lock until a recovery code or an administrator (Services.Unlock)
//     clears it.
//   - Per client address, across accounts: at 10 failures a 1-minute lock,
//     doubling up to an hour, forgotten after a quiet day. So one address
//     is stopped long before it can lock anyone else's account: it needs
//     hours to bring one account to its first lock and months to its limit.
func DeploymentThrottle(store identity.ThrottleStore, clock identity.Clock) *identity.Throttle {
	return &identity.Throttle{Store: store, Clock: clock, Free: 5, BaseDelay: time.Second, MaxDelay: time.Minute,
		LockAfter: 20, LockFor: 5 * time.Minute, MaxLockFor: 24 * time.Hour, Limit: identity.MaxLockout,
		Clients: &identity.ClientLimit{LockAfter: 10, LockFor: time.Minute, MaxLockFor: time.Hour, Forget: 24 * time.Hour}}
}

// Server is the login application.
type Server struct {
	cfg       Config
	log       *slog.Logger
	svc       *identity.Services
	passwords *identity.Passwords
	policy    *identity.Policy
	m         *httpauth.Manager
	approvals *httpauth.Endpoints // POST /auth/approve/{kind}/begin|finish
	totp      *totp.Factor
	recovery  *totp.Recovery
	ocra      *ocra.Factor
	card      *cardauth.Factor
	wa        *waFactors // nil: no WebAuthn
	pages     *web.Pages
	docKey    []byte
	signing   *esign.Ceremony // usage-policy receipts
	notices   notices
}

// Actions that need a fresh second factor.
const (
	actChangePassword = "change-password"
	actRecoveryCodes  = "recovery-codes"
	actManageFactors  = "manage-factors"
	actVerifyDocument = "verify-document"
	actSignPolicy     = "sign-policy"
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
	throttle := cfg.Throttle
	if throttle == nil {
		throttle = DeploymentThrottle(cfg.Store, cfg.Clock)
	}
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
			actVerifyDocument: {Level: identity.Level2, MaxAge: cfg.StepUpAge},
			actSignPolicy:     {Level: identity.Level2, MaxAge: cfg.StepUpAge},
		}},
		docKey: documentKey(cfg.DocumentKey),
	}
	// Payments are approved with a factor that links its code to the
	// amount and payee (PSD2 dynamic linking): the card, a security key or
	// passkey (plain, or through the browser's payment dialog: SPC, whose
	// route has a kind of its own and whose proofs are of kind webauthn),
	// an OCRA token.
	s.policy.ApprovalKinds = []identity.Kind{identity.KindCard, identity.KindWebAuthn, webauthn.SPCKind, ocra.Kind}
	// Sessions live in the store. Plain http is for localhost only
	// (httpauth.Config.Development), where the cookie cannot be Secure.
	// The body limit is the disclosure's; every other form gets 64 kB
	// (Handler).
	if s.m, err = httpauth.New(httpauth.Config{Store: cfg.Store, Origin: cfg.Origin, Development: u.Scheme == "http",
		CookieName: "puce_login", Policy: s.policy, Clock: cfg.Clock, Logger: cfg.Logger, MaxBodyBytes: MaxDisclosure + 64<<10,
		Audit: audit, Starts: cfg.Starts, TrustedProxies: cfg.TrustedProxies}); err != nil {
		return nil, fmt.Errorf("loginsrv: %w", err)
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
		// A revoked signer is refused as a revoked card is at login.
		verify := esign.VerifyOptions{Roots: cfg.Card.Roots, Intermediates: cfg.Card.Intermediates, OCSP: s.card.Revocation()}
		if s.signing, err = esign.NewCeremony(svc, esign.CeremonyConfig{Cards: s.card, Verify: verify}); err != nil {
			return nil, err
		}
	}
	// The bank's payments are in euros (payments.go), which a numeric
	// question cannot show: the factor approves in euros only.
	if s.ocra, err = ocra.New(svc, cfg.Sealer, ocra.WithCurrency("EUR")); err != nil {
		return nil, err
	}
	if s.wa, err = newWebAuthn(svc, cfg); err != nil {
		return nil, err
	}
	if s.approvals, err = s.approvalEndpoints(); err != nil {
		return nil, err
	}
	if s.pages, err = web.ParsePages(templates, "templates"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) now() time.Time { return s.svc.Now() }

// Handler returns the application's routes. Each is registered with what
// it needs of the session (see need), checked before its handler runs: a
// page and the form it posts share one need, so no outcome of a POST —
// success or failure — reaches past what its page required.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", web.Static())
	anyone, second, member := need{}, need{stages: at(passwordOK)}, need{stages: at(loggedIn)}
	enrolling := need{stages: at(setup, loggedIn), action: actManageFactors}
	stepUp := func(action string) need { return need{stages: at(loggedIn), action: action} }
	s.handle(mux, "GET /{$}", anyone, s.home)
	s.handle(mux, "GET /signup", anyone, s.signupPage)
	s.handle(mux, "POST /signup", anyone, s.signupPost)
	s.handle(mux, "GET /login", anyone, s.loginPage)
	s.handle(mux, "POST /login", anyone, s.loginPost)
	s.handle(mux, "GET /login/second", second, s.secondPage)
	s.handle(mux, "POST /login/second", second, s.secondPost)
	s.handle(mux, "POST /logout", anyone, s.logout)
	s.handle(mux, "GET /setup", need{stages: at(setup, loggedIn)}, s.setupPage)
	s.handle(mux, "GET /enroll/totp", enrolling, s.enrollTOTPPage)
	s.handle(mux, "POST /enroll/totp", enrolling, s.enrollTOTPPost)
	s.handle(mux, "GET /enroll/card", enrolling, s.enrollCardPage)
	s.handle(mux, "POST /enroll/card", enrolling, s.enrollCardPost)
	s.handle(mux, "GET /recovery", stepUp(actRecoveryCodes), s.recoveryPage)
	s.handle(mux, "POST /recovery", stepUp(actRecoveryCodes), s.recoveryPost)
	s.handle(mux, "GET /account", member, s.accountPage)
	s.handle(mux, "POST /factor/rename", stepUp(actManageFactors), s.renamePost)
	s.handle(mux, "POST /factor/revoke", stepUp(actManageFactors), s.revokePost)
	s.handle(mux, "GET /password", stepUp(actChangePassword), s.passwordPage)
	s.handle(mux, "POST /password", stepUp(actChangePassword), s.passwordPost)
	s.handle(mux, "GET /stepup", member, s.stepupPage)
	s.handle(mux, "POST /stepup", member, s.stepupPost)
	s.handle(mux, "GET /onboarding", stepUp(actVerifyDocument), s.onboardingPage)
	s.handle(mux, "GET /policy", stepUp(actSignPolicy), s.policyPage)
	s.handle(mux, "GET /policy/document", stepUp(actSignPolicy), s.policyDocument)
	s.handle(mux, "POST /policy/prepare", stepUp(actSignPolicy), s.policyPrepare)
	s.handle(mux, "POST /policy/finish", stepUp(actSignPolicy), s.policyFinish)
	s.handle(mux, "GET /policy/receipt/{id}", member, s.receiptFile)
	s.handle(mux, "GET /pay", member, s.payPage)
	s.handle(mux, "POST /pay", member, s.payPost)
	s.handle(mux, "GET /pay/approve", member, s.payApprovePage)
	s.handle(mux, "GET /pay/done", member, s.payDone)
	s.handle(mux, "GET /enroll/ocra", stepUp(actManageFactors), s.enrollOCRAPage)
	s.handle(mux, "POST /enroll/ocra", stepUp(actManageFactors), s.enrollOCRAPost)
	s.handle(mux, "POST /onboarding", stepUp(actVerifyDocument), s.onboardingPost)
	s.webauthnRoutes(mux, anyone, enrolling)
	// Only httpauth's approval endpoints: logins and enrolments go
	// through this application's own pages, with their own needs.
	mux.Handle("POST /auth/approve/", s.approvals)
	// httpauth guards every request (CSRF, body limit, session); POST
	// /onboarding may carry a disclosure, every other request 64 kB.
	h := s.m.ProtectWith(s.withReceipt(mux), s.refused)
	return s.withOnboarding(http.MaxBytesHandler(h, 64<<10), h)
}

type handler func(w http.ResponseWriter, r *http.Request, sess *httpauth.Session)

// need is what a route requires of its session.
type need struct {
	// stages the session may be at (a bit per stage); zero: any.
	stages uint8
	// action, for a logged-in session, names the step-up it needs
	// (Policy.Actions): a fresh second factor.
	action string
}

func at(stages ...stage) uint8 {
	var m uint8
	for _, st := range stages {
		m |= 1 << st
	}
	return m
}

// handle registers h for pattern behind n (see gated).
func (s *Server) handle(mux *http.ServeMux, pattern string, n need, h handler) {
	mux.HandleFunc(pattern, s.gated(pattern, n, h))
}

// gated loads the session (a page starts one, for its forms' CSRF token;
// httpauth has checked an unsafe request's token and origin already) and
// checks n before h runs.
func (s *Server) gated(pattern string, n need, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sess *httpauth.Session
		var err error
		if r.Method == http.MethodGet {
			sess, err = s.m.Start(w, r)
		} else {
			sess, err = s.m.Load(r)
		}
		if err != nil {
			s.refused(w, r, err)
			return
		}
		if !s.pass(w, r, sess, n) {
			return
		}
		if starts[pattern] {
			if err := s.m.AllowStart(r, sess); err != nil {
				s.tooMany(w, r, sess, err)
				return
			}
		}
		h(w, r, sess)
	}
}

// starts are the routes that begin a ceremony (store a challenge) or hash
// a password for whoever asks: each counts against httpauth's start limit
// (Config.Starts), per client address and, before any proof, per
// instance, as the library's own endpoints do (OWASP ASVS 5.0 V2.4.1).
var starts = map[string]bool{
	"POST /signup": true, "POST /login": true, "GET /login/second": true, "GET /stepup": true,
	"GET /enroll/totp": true, "GET /enroll/card": true, "GET /enroll/ocra": true, "GET /recovery": true,
	"GET /enroll/key": true, "GET /enroll/passkey": true, "GET /enroll/payment": true,
	"POST /login/passkey/options": true, "POST /policy/prepare": true,
}

// tooMany answers a start over the limit: 429 with Retry-After (RFC 6585
// §4), as JSON for a page's script.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, err error) {
	if isJSON(r) {
		s.m.WriteError(w, r, err)
		return
	}
	s.log.Info("refused", "path", r.URL.Path, "err", err)
	_, msg := httpauth.Public(err)
	s.render(w, r, sess, status(w, err, http.StatusTooManyRequests), "message.html", "Please wait", msg, nil)
}

// pass reports whether the session meets n. When it does not, it has
// answered: a session at the wrong stage goes home (or to the login page),
// one that needs a fresh second factor goes to step-up and comes back here.
// A JSON call gets 403 instead of a redirect.
func (s *Server) pass(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, n need) bool {
	st := s.stageOf(sess)
	script := isJSON(r)
	if n.stages != 0 && n.stages&(1<<st) == 0 {
		switch {
		case script:
			s.m.WriteError(w, r, s.m.Authorize(nil, n.action))
		case st == anonymous:
			s.redirect(w, r, "/login", "Please log in first.")
		default:
			s.redirect(w, r, "/", "")
		}
		return false
	}
	if n.action == "" || st != loggedIn {
		return true
	}
	err := s.m.Authorize(sess, n.action)
	switch {
	case err == nil:
		return true
	case script:
		s.m.WriteError(w, r, err)
	case errors.Is(err, identity.ErrStepUpRequired):
		next := r.URL.Path
		if r.Method != http.MethodGet {
			next = s.pageOf(next)
		}
		if err := s.set(r.Context(), sess, valNext, next); err != nil {
			s.sessionFault(w, r, sess, err)
			return false
		}
		s.redirect(w, r, "/stepup", "")
	default:
		s.render(w, r, sess, http.StatusInternalServerError, "message.html", "Not allowed", s.fail(r, err), nil)
	}
	return false
}

// isJSON reports a call from a page's script rather than a form.
func isJSON(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

// pageOf is the page to come back to after a step-up that a form's POST
// asked for: the form's own page, or the account page.
func (s *Server) pageOf(path string) string {
	switch path {
	case "/password", "/recovery", "/enroll/totp", "/enroll/card", "/enroll/key", "/enroll/passkey", "/enroll/ocra", "/onboarding":
		return path
	case "/policy/prepare", "/policy/finish":
		return "/policy"
	}
	return "/account"
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, status int, page, title, errMsg string, data any) {
	s.renderN(w, r, sess, status, page, title, errMsg, "", data)
}

func (s *Server) renderN(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, status int, page, title, errMsg, notice string, data any) {
	p := s.page(r, sess, title, data)
	p.Error = errMsg
	if notice != "" {
		p.Notice = notice
	}
	if page == "second.html" || page == "enroll_card.html" || page == "pay_approve.html" {
		p.Script = "agent.js"
	}
	// webauthn.js comes after agent.js, which the layout loads with any
	// page script.
	if s.wa != nil && (page == "second.html" || page == "login.html" || page == "enroll_webauthn.html") {
		p.Script = "webauthn.js"
	}
	if page == "pay_approve.html" {
		p.Script = "pay.js" // it loads webauthn.js itself
	}
	var connect []string
	if s.cfg.AgentURL != "" {
		connect = append(connect, s.cfg.AgentURL)
	}
	if errMsg != "" {
		retryAfter(w, status)
	}
	s.pages.Render(w, status, page, p, connect...)
}

// page is what every page gets: the session's CSRF token, who is logged
// in, and the notice the URL names.
func (s *Server) page(r *http.Request, sess *httpauth.Session, title string, data any) web.Page {
	p := web.Page{Site: s.cfg.SiteName, Title: title, CSRFField: httpauth.CSRFField, Notice: s.notice(r), Data: data}
	if sess != nil {
		p.CSRF = sess.CSRFToken()
		if s.stageOf(sess) == loggedIn {
			p.User = string(sess.Subject())
		}
	}
	return p
}

// fail logs the error as it is and shows its plain-words version.
func (s *Server) fail(r *http.Request, err error) string {
	s.log.Info("refused", "path", r.URL.Path, "err", err)
	return plain(err)
}

// status is the HTTP status for a refusal caused by err: 503 when the
// server was too busy to look at the request, 429 when throttled or over a
// client's rate, def
// otherwise. It sets Retry-After when err says how long to wait.
func status(w http.ResponseWriter, err error, def int) int {
	if d := httpauth.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(d/time.Second)))
	}
	switch {
	case errors.Is(err, identity.ErrBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, identity.ErrThrottled), errors.Is(err, identity.ErrRateLimited):
		return http.StatusTooManyRequests
	}
	return def
}

// retryAfter keeps a Retry-After header only on answers that can carry it.
func retryAfter(w http.ResponseWriter, status int) {
	if status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests {
		w.Header().Del("Retry-After")
	}
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	switch s.stageOf(sess) {
	case loggedIn:
		s.redirect(w, r, "/account", "")
	case passwordOK:
		s.redirect(w, r, "/login/second", "")
	case setup:
		s.redirect(w, r, "/setup", "")
	default:
		s.render(w, r, sess, 200, "home.html", "Welcome", "", nil)
	}
}
