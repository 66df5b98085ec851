package loginsrv

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/webauthn"
)

// WebAuthn in the login example: security keys and passkeys, enrolled from
// the setup and account pages, used as the second factor after the password
// (and for step-up), and passkeys alone, username-less, from the login page.
//
// One account may hold both. They differ only in what registration asks of
// the authenticator, so the server runs two webauthn.Factor values over the
// same store: every WebAuthn credential is of kind "webauthn" whichever
// factor registered it, and either factor verifies a login with any of them
// (the user-verification wish travels with each challenge).

// The example's own scripts: webauthn.js, and pay.js for payments.
//
//go:embed static/webauthn.js static/pay.js
var scripts embed.FS

// waFactors are the two registration profiles.
type waFactors struct {
	// keys registers security keys: roaming authenticators, user
	// verification where the key can do it, no passkey needed. It also runs
	// second-factor logins and step-up, where any of the account's
	// credentials may answer.
	keys *webauthn.Factor
	// passkeys registers discoverable credentials with user verification,
	// and runs username-less logins, where user verification is required:
	// the passkey is then the only factor, and must cover two categories
	// itself (possession, and the PIN or biometric it checked).
	passkeys *webauthn.Factor
	// icon is the payment instrument's icon in SPC's dialog (a data: URL).
	icon string
}

// rpIDFor derives the WebAuthn relying party ID from the site's origin: its
// host name. WebAuthn needs a secure context — https, or http on localhost —
// and a domain, not an IP address (W3C WebAuthn §5.1.3, "rp.id"); for other
// origins it returns "" and the site runs without WebAuthn.
func rpIDFor(origin string) string {
	u, err := url.Parse(origin)
	if err != nil {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) != nil {
		return ""
	}
	if u.Scheme == "https" || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return host
	}
	return ""
}

// newWebAuthn sets WebAuthn up, or leaves it off (nil, and says why in the
// log) when the origin cannot host it.
func newWebAuthn(svc *identity.Services, cfg Config) (*waFactors, error) {
	if cfg.DisableWebAuthn {
		return nil, nil
	}
	rpID := cfg.RPID
	if rpID == "" {
		rpID = rpIDFor(cfg.Origin)
	}
	if rpID == "" {
		cfg.Logger.Info("WebAuthn disabled: it needs an https origin, or http on localhost, named by a domain rather than an IP address", "origin", cfg.Origin)
		return nil, nil
	}
	base := webauthn.Config{RPID: rpID, RPDisplayName: cfg.SiteName, Origins: []string{cfg.Origin}}
	keys := base
	keys.Attachment = webauthn.AttachmentCrossPlatform
	keys.ResidentKey = webauthn.ResidentKeyDiscouraged
	keys.UserVerification = webauthn.VerificationPreferred
	passkeys := base
	passkeys.ResidentKey = webauthn.ResidentKeyRequired
	passkeys.UserVerification = webauthn.VerificationRequired
	var (
		f   waFactors
		err error
	)
	if f.keys, err = webauthn.New(svc, keys); err != nil {
		return nil, fmt.Errorf("loginsrv: security keys: %w", err)
	}
	if f.passkeys, err = webauthn.New(svc, passkeys); err != nil {
		return nil, fmt.Errorf("loginsrv: passkeys: %w", err)
	}
	f.icon = instrumentIcon()
	return &f, nil
}

// webauthnRoutes adds the WebAuthn pages. Without WebAuthn they answer that
// it is not configured.
func (s *Server) webauthnRoutes(mux *http.ServeMux, anyone, enrolling need) {
	for _, name := range []string{"webauthn.js", "pay.js"} {
		js, _ := scripts.ReadFile("static/" + name)
		mux.HandleFunc("GET /static/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(js)
		})
	}
	s.handle(mux, "GET /enroll/key", enrolling, s.enrollWebAuthnPage)
	s.handle(mux, "POST /enroll/key", enrolling, s.enrollWebAuthnPost)
	s.handle(mux, "GET /enroll/passkey", enrolling, s.enrollWebAuthnPage)
	s.handle(mux, "POST /enroll/passkey", enrolling, s.enrollWebAuthnPost)
	s.handle(mux, "GET /enroll/payment", enrolling, s.enrollWebAuthnPage)
	s.handle(mux, "POST /enroll/payment", enrolling, s.enrollWebAuthnPost)
	s.handle(mux, "POST /login/passkey/options", anyone, s.passkeyOptions)
	s.handle(mux, "POST /login/passkey", anyone, s.passkeyLogin)
}

// ---- enrolment ----------------------------------------------------------

// waProfile is one of the kinds of WebAuthn authenticator a user adds.
type waProfile struct {
	Type, Path, Title, Label, Default string
	Passkey                           bool
	// Payment: a passkey registered for Secure Payment Confirmation.
	Payment bool
}

var (
	profileKey = waProfile{Type: "key", Path: "/enroll/key", Title: "Add a security key", Label: "Security key", Default: "Security key"}
	// A passkey may live on a phone, a laptop or a security key: the user
	// picks where in the browser's dialogue.
	profilePasskey = waProfile{Type: "passkey", Path: "/enroll/passkey", Title: "Create a passkey", Label: "Passkey", Default: "Passkey", Passkey: true}
	// A payment passkey is one this device keeps (SPC asks for a platform
	// authenticator), made with SPC's payment extension so that the
	// browser may use it in its own payment dialog.
	profilePayment = waProfile{Type: "payment", Path: "/enroll/payment", Title: "Register this device for payments",
		Label: "Passkey for payments", Default: "Passkey for payments", Passkey: true, Payment: true}
)

func profileOf(r *http.Request) waProfile {
	switch r.URL.Path {
	case profilePasskey.Path:
		return profilePasskey
	case profilePayment.Path:
		return profilePayment
	}
	return profileKey
}

func (w *waFactors) enroller(p waProfile) *webauthn.Factor {
	if p.Passkey {
		return w.passkeys
	}
	return w.keys
}

// webauthnData is what the enrolment page needs: the creation options for
// navigator.credentials.create (JSON, base64url members) and the challenge
// the answer goes back with.
type webauthnData struct {
	Profile   waProfile
	Challenge string
	Options   string
	Name      string
}

func (s *Server) noWebAuthn(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	s.render(w, r, sess, http.StatusNotFound, "message.html", "Security keys and passkeys",
		"Security keys and passkeys are not available on this server: WebAuthn needs an https address (or localhost).", nil)
}

func (s *Server) enrollWebAuthnPage(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	if s.wa == nil {
		s.noWebAuthn(w, r, sess)
		return
	}
	p := profileOf(r)
	s.renderWebAuthnEnroll(w, r, sess, p, 200, "")
}

// renderWebAuthnEnroll begins a registration and shows its page. Each page
// gets a fresh challenge, so a failed attempt never leaves a spent one in
// the form.
func (s *Server) renderWebAuthnEnroll(w http.ResponseWriter, r *http.Request, sess *httpauth.Session, p waProfile, status int, errMsg string) {
	subject := sess.Subject()
	req := identity.Request{Subject: subject, Origin: s.cfg.Origin, UserName: string(subject), RemoteAddr: s.m.ClientAddr(r)}
	begin := s.wa.enroller(p).BeginEnroll
	if p.Payment {
		begin = s.wa.enroller(p).BeginEnrollPayment
	}
	ch, err := begin(r.Context(), req)
	if err != nil {
		s.render(w, r, sess, 500, "message.html", p.Title, s.fail(r, err), nil)
		return
	}
	s.render(w, r, sess, status, "enroll_webauthn.html", p.Title, errMsg,
		webauthnData{Profile: p, Challenge: ch.ID.String(), Options: string(ch.Payload), Name: strings.TrimSpace(r.PostFormValue("name"))})
}

func (s *Server) enrollWebAuthnPost(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	if s.wa == nil {
		s.noWebAuthn(w, r, sess)
		return
	}
	p := profileOf(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = p.Default
	}
	id, err := identity.ParseChallengeID(r.PostFormValue("challenge"))
	if err == nil && len(name) > 64 {
		err = fmt.Errorf("%w: name longer than 64 bytes", identity.ErrBadInput)
	}
	var c *identity.Credential
	if err == nil {
		c, err = s.wa.enroller(p).FinishEnroll(r.Context(), identity.Response{ChallengeID: id, Subject: sess.Subject(), Origin: s.cfg.Origin,
			Data: []byte(r.PostFormValue("credential")), Name: name, RemoteAddr: s.m.ClientAddr(r)})
	}
	if err != nil {
		msg := s.fail(r, err)
		if errors.Is(err, identity.ErrExists) {
			msg = "This authenticator is already registered (to your account or another one). Use another one."
		}
		s.renderWebAuthnEnroll(w, r, sess, p, http.StatusUnauthorized, msg)
		return
	}
	label := p.Label
	if p.Passkey && !isDiscoverable(c) {
		// The browser was asked for a discoverable credential (residentKey
		// "required") but says it made a server-side one, which cannot log
		// in without a user name: it is a security key, and the user is told.
		label = "Security key (this authenticator cannot keep a passkey; use it after your password)"
	}
	s.enrolled(w, r, sess, label, p.Type)
}

// isDiscoverable reports whether the client said (credProps, W3C WebAuthn
// §10.1.3) that the credential is a passkey. A client that did not say is
// taken at its word that it honoured residentKey "required".
func isDiscoverable(c *identity.Credential) bool {
	rec, err := webauthn.DecodeRecord(c)
	return err != nil || rec.Discoverable == nil || *rec.Discoverable
}

// ---- passkey login --------------------------------------------------------

// passkeyOptions begins a username-less login for the login page's script,
// which asks for it when the page loads (for passkey autofill, conditional
// mediation) and again after a failed attempt. Its answer is JSON:
// {"challenge": ..., "options": {"publicKey": {...}, "mediation": "conditional"}}.
// The same options serve the "Sign in with a passkey" button (the page
// drops "mediation" for it): go-webauthn verifies both alike.
func (s *Server) passkeyOptions(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	web.Headers(w)
	if s.wa == nil {
		s.m.WriteError(w, r, fmt.Errorf("%w: webauthn is off", httpauth.ErrUnknownFactor))
		return
	}
	ch, err := s.wa.passkeys.BeginConditional(r.Context(), identity.Request{Origin: s.cfg.Origin, RemoteAddr: s.m.ClientAddr(r)})
	if err != nil {
		// Too many anonymous ceremonies from this address: 503 with
		// Retry-After (identity.Services.Anonymous).
		s.m.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Challenge string          `json:"challenge"`
		Options   json.RawMessage `json:"options"`
	}{ch.ID.String(), ch.Payload})
}

// passkeyLogin finishes a username-less login: the passkey names the
// account, and its proof alone must reach the login level — it does when
// the authenticator verified the user (PIN or biometric), which the passkey
// options require.
func (s *Server) passkeyLogin(w http.ResponseWriter, r *http.Request, sess *httpauth.Session) {
	bad := func(status int, msg string) {
		s.render(w, r, sess, status, "login.html", "Log in", msg, nil)
	}
	if s.wa == nil {
		bad(http.StatusNotFound, "Passkeys are not available on this server.")
		return
	}
	id, err := identity.ParseChallengeID(r.PostFormValue("challenge"))
	var proof *identity.Proof
	if err == nil {
		proof, err = s.wa.passkeys.Finish(r.Context(), identity.Response{ChallengeID: id, Origin: s.cfg.Origin,
			Data: []byte(r.PostFormValue("credential")), RemoteAddr: s.m.ClientAddr(r)})
	}
	if err != nil {
		msg := s.fail(r, err)
		if errors.Is(err, identity.ErrNotEnrolled) {
			msg = "This passkey is not registered here: it may have been removed from its account. Use another passkey, or log in with your user name and password."
		}
		bad(http.StatusUnauthorized, msg)
		return
	}
	_, err = s.policy.Combine(*proof)
	if err != nil {
		// Only a passkey the authenticator did not unlock gets here, and
		// the options forbid that; say what is missing all the same.
		bad(http.StatusUnauthorized, "This passkey did not check your PIN or fingerprint, so it cannot log you in alone. Log in with your user name and password, then use it as your second factor.")
		s.log.Info("refused", "path", r.URL.Path, "err", err)
		return
	}
	// A new login on this browser: nothing of an earlier one rides on it.
	err = s.m.Reset(r.Context(), w, sess)
	var session *identity.Session
	if err == nil {
		session, err = s.m.AddProof(r.Context(), w, sess, *proof)
	}
	if err != nil {
		s.sessionFault(w, r, sess, err)
		return
	}
	s.redirect(w, r, "/account", fmt.Sprintf("Logged in with a passkey (%s, eIDAS %s).", session.Level, session.Level.EIDAS()))
}

// ---- shared with the other factors ---------------------------------------

// plain words for the errors of every factor: WebAuthn's own come first,
// since they also match identity's more general sentinels (a counter that
// went backwards is identity.ErrReplayed, which web.Plain words for codes).
func plain(err error) string {
	switch {
	case errors.Is(err, webauthn.ErrClonedAuthenticator):
		return "This security key's answer shows signs of a copied key (its signature counter went backwards), so it was refused. Contact support."
	case errors.Is(err, webauthn.ErrMalformedResponse):
		return "The browser's answer from your security key or passkey was incomplete. Please try again."
	}
	return web.Plain(err)
}

// waLabel names a WebAuthn credential on the account page, with what the
// record says about it.
func waLabel(c *identity.Credential) (label, detail string) {
	rec, err := webauthn.DecodeRecord(c)
	if err != nil {
		return "Security key", ""
	}
	label = "Security key"
	if rec.Discoverable != nil && *rec.Discoverable {
		label = "Passkey"
	}
	var parts []string
	if rec.Payment {
		label = "Passkey for payments"
		parts = append(parts, "confirms payments in your browser's payment dialog (Secure Payment Confirmation)")
	}
	switch {
	case rec.BackupEligible:
		parts = append(parts, "synced (can be copied to your other devices)")
	default:
		parts = append(parts, "bound to its device")
	}
	if rec.UserVerified {
		parts = append(parts, "checks a PIN or fingerprint")
	}
	if rec.Attachment != "" {
		parts = append(parts, rec.Attachment)
	}
	if len(rec.Transports) > 0 {
		parts = append(parts, "via "+strings.Join(rec.Transports, ", "))
	}
	return label, strings.Join(parts, "; ")
}

// secondFactor reports whether a credential kind can be a login's second
// factor (and so counts when the account must keep at least one).
func secondFactor(k identity.Kind) bool {
	return k == identity.KindTOTP || k == identity.KindCard || k == identity.KindWebAuthn
}
