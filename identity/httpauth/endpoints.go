package httpauth

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/puce-id/puce/identity"
)

// openAPI is the contract the endpoints keep, served at Prefix +
// "/openapi.json"; TestOpenAPIMatchesHandlers holds the two together.
//
//go:embed openapi.json
var openAPI []byte

// ErrUnknownFactor: a request names a factor kind the endpoints do not
// serve (or, for an approval, one that cannot approve payments is answered
// with identity.ErrCannotLink instead).
var ErrUnknownFactor = errors.New("httpauth: no such factor")

// Approver is a factor that can approve a payment bound to its amount and
// payee (webauthn.Factor, ocra.Factor): the challenge is derived from the
// transaction's digest and the proof carries it.
type Approver interface {
	BeginApprove(ctx context.Context, req identity.Request) (*identity.Challenge, error)
	FinishApprove(ctx context.Context, resp identity.Response) (*identity.Proof, error)
}

// EndpointsConfig says what the JSON endpoints serve. Factors is required.
type EndpointsConfig struct {
	// Prefix is the path the endpoints are mounted under (default
	// "/auth"); mount the handler at Prefix + "/".
	Prefix string
	// Factors are served by their Kind at /login/{kind}/…, /enroll/{kind}/…
	// and, for those that implement Approver, /approve/{kind}/….
	Factors []identity.Authenticator
	// Passwords serves POST /password (the first factor); nil: no password
	// step.
	Passwords *identity.Passwords
	// SignUp serves POST /signup: a new account's first password, after
	// which it may enrol its first second factor on the password alone.
	// Enrolling does not complete the login: the session keeps the
	// password's proof, and the user then logs in with the new factor
	// (/login/{kind}/…); a TOTP code that enrolled is spent, so that
	// login takes the app's next code.
	// Off by default: many banks open accounts elsewhere. A name already
	// taken is answered 409, so sign-up tells whether an account exists,
	// which OWASP ASVS 5.0 V6.3.8 asks registration not to do; only
	// Config.Starts bounds how fast names can be tried. Where account
	// names must not be learnt, open accounts through a channel that
	// answers alike for both (a letter, a mail to the address given).
	SignUp bool
	// Throttle is the factors' throttle, read after a wrong second factor
	// to tell the user how many tries remain (Manager.TriesLeft says when
	// that is safe); default Passwords.Throttle, nil: never told.
	Throttle *identity.Throttle
	// Credentials lists an account's credentials, to tell the client
	// which second factors it has (default Passwords.Store).
	Credentials identity.CredentialStore
	// Subject maps the user name a client sends to the account's subject
	// (default: the name is the subject). It must not fail for an unknown
	// name: Passwords.Verify answers it as for a wrong password, in the
	// same time.
	Subject func(ctx context.Context, username string) (identity.Subject, error)
	// UserName gives the account name and display name an authenticator
	// shows at enrolment (default: the subject for both). The client does
	// not choose them.
	UserName func(ctx context.Context, subject identity.Subject) (userName, displayName string, err error)
	// PendingPayment returns the payment the session's user is about to
	// approve, as the application stored it (in its database, or in the
	// session with Session.SetValue), or nil when none is: the approval
	// is bound to this one, never to what the client posts. A nil
	// PendingPayment serves no approval endpoints.
	PendingPayment func(r *http.Request, s *Session) (*identity.Transaction, error)
	// PaymentApproved runs once the factor and the policy have accepted an
	// approval of tx. The application executes the payment here, and must
	// make it single: an approval answered twice must not pay twice.
	// The endpoints do not save s afterwards: a payment kept in the
	// session (Session.SetValue) is taken off it here, and Manager.Save
	// called before paying; of two approvals racing on one session, the
	// second Save fails with identity.ErrChanged and must not pay (see
	// ExampleNewSite_payment). An error makes the approval fail, with
	// Public's answer to it.
	PaymentApproved func(r *http.Request, s *Session, tx identity.Transaction, proof identity.Proof) error
	// Signing serves POST /sign/begin and /sign/finish: documents signed
	// with the account's card (sign.go). nil: no signing endpoints.
	Signing *Signing
	// KeepOtherSessions leaves the account's other sessions alone when a
	// second factor is enrolled. By default an enrolment ends them (as
	// Manager.EndOtherSessions does), so that whoever held a session from
	// before the change does not keep it; set this only when the
	// application asks its user first and calls EndOtherSessions itself
	// (OWASP ASVS 5.0 V7.4.3 asks for the option at least).
	KeepOtherSessions bool
	// RemoteAddr is the client address for the start limit, throttling
	// and audit (default Manager.ClientAddr: the peer, or behind
	// Config.TrustedProxies the address they vouch for).
	RemoteAddr func(r *http.Request) string
}

// Endpoints serves the JSON contract of openapi.json: the password step,
// login, enrolment and payment approval for every registered factor. Every
// request goes through the Manager's Protect (CSRF, body limit), every
// error is answered with WriteError (Public's status and message, the
// detail logged), and every change of level renews the session (AddProof).
//
// Under Prefix:
//
//	GET  /session                      the session and its CSRF token (starts one);
//	                                   signed in, the factors it can approve with
//	POST /password, /signup            the first factor; the answer lists the next
//	POST /login/{kind}/begin|finish    a login or step-up with a factor
//	POST /enroll/{kind}/begin|finish   a new credential
//	POST /approve/{kind}/begin|finish  the pending payment, with an Approver
//	POST /sign/begin|finish            a document signed with the card (Signing)
//	POST /logout
//	GET  /openapi.json                 the contract
//	GET  /puce.js                      the browser client (Script)
//
// A login is for the session's subject (the one the password proved) or,
// before any proof, for nobody: a passkey or a card then names the
// account. A client never names one, so that nobody learns which accounts
// have a card or a key.
type Endpoints struct {
	m       *Manager
	cfg     EndpointsConfig
	factors map[identity.Kind]identity.Authenticator
	doc     []byte
	h       http.Handler
}

// route is one operation of the contract; the table is what the mux
// serves and what the OpenAPI test compares with the document.
type route struct {
	method, path string // path relative to Prefix, OpenAPI style
	serve        func(e *Endpoints, w http.ResponseWriter, r *http.Request)
}

func (e *Endpoints) routes() []route {
	rs := []route{
		{"GET", "/openapi.json", (*Endpoints).serveOpenAPI},
		{"GET", "/session", (*Endpoints).session},
		{"POST", "/logout", (*Endpoints).logout},
		{"POST", "/login/{kind}/begin", (*Endpoints).loginBegin},
		{"POST", "/login/{kind}/finish", (*Endpoints).loginFinish},
		{"POST", "/enroll/{kind}/begin", (*Endpoints).enrollBegin},
		{"POST", "/enroll/{kind}/finish", (*Endpoints).enrollFinish},
	}
	if e.cfg.Passwords != nil {
		rs = append(rs, route{"POST", "/password", (*Endpoints).password})
		if e.cfg.SignUp {
			rs = append(rs, route{"POST", "/signup", (*Endpoints).signUp})
		}
	}
	if e.cfg.PendingPayment != nil {
		rs = append(rs, route{"POST", "/approve/{kind}/begin", (*Endpoints).approveBegin},
			route{"POST", "/approve/{kind}/finish", (*Endpoints).approveFinish})
	}
	return append(rs, e.signRoutes()...)
}

// Endpoints returns the JSON endpoints over this Manager. Mount them at
// cfg.Prefix + "/"; they guard themselves with Protect (wrapping them in
// Protect again changes nothing). It fails with identity.ErrBadInput for
// a missing or duplicate factor, a Prefix that is not a clean path, or
// approvals without PaymentApproved.
func (m *Manager) Endpoints(cfg EndpointsConfig) (*Endpoints, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/auth"
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/") || strings.ContainsAny(cfg.Prefix, "{}?# ") {
		return nil, fmt.Errorf("%w: httpauth: Prefix %q must start with / and not end with one", identity.ErrBadInput, cfg.Prefix)
	}
	if (cfg.PendingPayment == nil) != (cfg.PaymentApproved == nil) {
		return nil, fmt.Errorf("%w: httpauth: PendingPayment and PaymentApproved go together", identity.ErrBadInput)
	}
	if cfg.Signing != nil {
		if err := cfg.Signing.check(); err != nil {
			return nil, err
		}
	}
	if cfg.Credentials == nil && cfg.Passwords != nil {
		cfg.Credentials = cfg.Passwords.Store
	}
	if cfg.Throttle == nil && cfg.Passwords != nil {
		cfg.Throttle = cfg.Passwords.Throttle
	}
	if cfg.Subject == nil {
		cfg.Subject = func(_ context.Context, name string) (identity.Subject, error) { return identity.Subject(name), nil }
	}
	if cfg.UserName == nil {
		cfg.UserName = func(_ context.Context, s identity.Subject) (string, string, error) { return string(s), string(s), nil }
	}
	if cfg.RemoteAddr == nil {
		cfg.RemoteAddr = m.ClientAddr
	}
	e := &Endpoints{m: m, cfg: cfg, factors: map[identity.Kind]identity.Authenticator{}}
	for _, f := range cfg.Factors {
		if f == nil {
			return nil, fmt.Errorf("%w: httpauth: a nil factor", identity.ErrBadInput)
		}
		k := f.Kind()
		if err := k.Validate(); err != nil {
			return nil, err
		}
		if _, dup := e.factors[k]; dup || k == identity.KindPassword {
			return nil, fmt.Errorf("%w: httpauth: factor %q registered twice", identity.ErrBadInput, k)
		}
		e.factors[k] = f
	}
	if len(e.factors) == 0 {
		return nil, fmt.Errorf("%w: httpauth: no factors", identity.ErrBadInput)
	}
	doc, err := documentAt(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	e.doc = doc
	mux := http.NewServeMux()
	for _, rt := range e.routes() {
		serve := rt.serve
		if isStart(rt.path) {
			serve = limited(serve)
		}
		mux.HandleFunc(rt.method+" "+cfg.Prefix+rt.path, func(w http.ResponseWriter, r *http.Request) { serve(e, w, r) })
	}
	mux.Handle("GET "+cfg.Prefix+"/"+ScriptName, Script()) // client.go
	e.h = m.Protect(mux)
	return e, nil
}

// documentAt is the embedded document with its server URL set to prefix,
// so that a client generated from it calls the endpoints where they are.
func documentAt(prefix string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		return nil, fmt.Errorf("httpauth: embedded openapi.json: %w", err)
	}
	doc["servers"] = []any{map[string]any{"url": prefix}}
	return json.MarshalIndent(doc, "", "  ")
}

// ServeHTTP serves the endpoints.
func (e *Endpoints) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.m.securityHeaders(w.Header())
	e.h.ServeHTTP(w, r)
}

// isStart reports whether the route at path starts a ceremony: it writes
// a challenge, a session row, an account or an audit record for whoever
// asks, and so counts against Config.Starts.
func isStart(path string) bool {
	return strings.HasSuffix(path, "/begin") || path == "/password" || path == "/signup"
}

// limited runs serve once the request's client may start a ceremony
// (Manager.AllowStart), counted by the address the endpoints record.
func limited(serve func(*Endpoints, http.ResponseWriter, *http.Request)) func(*Endpoints, http.ResponseWriter, *http.Request) {
	return func(e *Endpoints, w http.ResponseWriter, r *http.Request) {
		// Protect put the session into the context: no second read.
		s, err := e.m.Load(r)
		if err == nil {
			err = e.m.allowStart(e.cfg.RemoteAddr(r), s)
		}
		if err != nil {
			e.fail(w, r, err)
			return
		}
		serve(e, w, r)
	}
}

func (e *Endpoints) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	w.Write(e.doc)
}

// The wire types. openapi.json documents each; the test compares their
// JSON names with the document's properties.

type credentialsBody struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type finishBody struct {
	ChallengeID string `json:"challengeId"`
	// Response is the factor's answer: a JSON string (a TOTP or OCRA code)
	// is passed on as its text, an object (WebAuthn's PublicKeyCredential,
	// a Web eID token) as its JSON.
	Response json.RawMessage `json:"response"`
}

type enrollFinishBody struct {
	ChallengeID string          `json:"challengeId"`
	Response    json.RawMessage `json:"response"`
	Name        string          `json:"name"`
}

type approveFinishBody struct {
	ChallengeID string          `json:"challengeId"`
	Response    json.RawMessage `json:"response"`
	// Transaction is what the page showed its user; it must be the
	// pending payment, or nothing is approved.
	Transaction *identity.Transaction `json:"transaction"`
}

type emptyBody struct{}

// stateJSON is where the session stands after a step.
type stateJSON struct {
	Subject string `json:"subject"`
	Level   string `json:"level"`
	// Complete is true once the login reached the policy's level.
	Complete bool `json:"complete"`
	// CSRFToken changes whenever the session is renewed: the client sends
	// the latest one.
	CSRFToken string `json:"csrfToken"`
	// Next are the second factors the account can log in with now.
	Next []identity.Kind `json:"next,omitempty"`
	// Enroll are the factors a new account may enrol on its password
	// alone, when it has no second factor yet.
	Enroll []identity.Kind `json:"enroll,omitempty"`
	// ApproveWith are the factors the signed-in account can approve a
	// payment with here (served with payments only).
	ApproveWith []identity.Kind `json:"approveWith,omitempty"`
}

type challengeJSON struct {
	ChallengeID string        `json:"challengeId"`
	Kind        identity.Kind `json:"kind"`
	// Payload is what the client hands to the factor: JSON as it is
	// (WebAuthn options, an object), anything else as a string (an
	// otpauth URI, a nonce, an OCRA question). Absent when the factor
	// needs nothing (a TOTP login).
	Payload   json.RawMessage `json:"payload,omitempty"`
	ExpiresAt string          `json:"expiresAt"`
}

// enrollChallengeJSON is an enrolment's challenge, with the payload drawn
// as a QR code for factors that have one (a TOTP key for a phone's app),
// so that a page needs no QR library.
type enrollChallengeJSON struct {
	challengeJSON
	QRCode string `json:"qrCode,omitempty"`
}

// qrCoder is a factor that draws its enrolment payload as a PNG QR code
// (totp.Factor).
type qrCoder interface {
	QRCode(ch *identity.Challenge) ([]byte, error)
}

// approvalChallengeJSON is an approval's challenge with the payment it is
// for, as the application holds it: what the page shows its user.
type approvalChallengeJSON struct {
	challengeJSON
	Transaction *identity.Transaction `json:"transaction"`
}

type credentialJSON struct {
	Kind         identity.Kind `json:"kind"`
	CredentialID string        `json:"credentialId"`
	Name         string        `json:"name"`
	// EndedSessions is how many other sessions of the account the new
	// factor ended; nil when none were asked to end or they could not be.
	EndedSessions *int64 `json:"endedSessions,omitempty"`
}

type approvalJSON struct {
	Approved     bool                  `json:"approved"`
	Kind         identity.Kind         `json:"kind"`
	CredentialID string                `json:"credentialId"`
	Transaction  *identity.Transaction `json:"transaction"`
}

// payloadJSON puts a challenge's payload into the answer: a JSON object or
// array as it is, so that WebAuthn options and tokens never become base64
// of JSON; anything else as a JSON string.
func payloadJSON(p []byte) json.RawMessage {
	t := bytes.TrimSpace(p)
	if len(t) == 0 {
		return nil
	}
	if (t[0] == '{' || t[0] == '[') && json.Valid(t) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(string(p)) // a string never fails to encode
	return b
}

// responseData is payloadJSON's inverse for the client's answer: a JSON
// string gives its text, an object or array its JSON. Anything else is
// identity.ErrBadInput.
func responseData(raw json.RawMessage) ([]byte, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, fmt.Errorf("%w: httpauth: no response", identity.ErrBadInput)
	}
	switch t[0] {
	case '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, fmt.Errorf("%w: httpauth: response: %w", identity.ErrBadInput, err)
		}
		return []byte(s), nil
	case '{', '[':
		if !json.Valid(t) {
			return nil, fmt.Errorf("%w: httpauth: response is not JSON", identity.ErrBadInput)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: httpauth: response must be a string or an object", identity.ErrBadInput)
}

// decode reads a request's JSON body into v: one object, no unknown
// member (a client built for another version of the contract is told so,
// not half-served). An empty body reads as {}.
func decode(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		if err := jsonType(ct); err != nil {
			return err
		}
	}
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case err != nil:
		return fmt.Errorf("%w: httpauth: read body: %w", identity.ErrBadInput, err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	} else if ct == "" {
		// A body must say what it is: a form or text/plain (what another
		// site's page may send without asking, CORS's "simple" requests)
		// is not taken for JSON (OWASP ASVS 4.0.3 V13.1.5).
		return fmt.Errorf("%w: no Content-Type", ErrUnsupportedMediaType)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: httpauth: body: %w", identity.ErrBadInput, err)
	}
	// One JSON text (RFC 8259 §2): only JSON's whitespace may follow.
	// Decoder.More would let a stray ']' or '}' through.
	if len(bytes.Trim(body[d.InputOffset():], " \t\r\n")) != 0 {
		return fmt.Errorf("%w: httpauth: body holds more than one JSON value", identity.ErrBadInput)
	}
	return nil
}

// jsonType checks a request's Content-Type: application/json (RFC 8259
// §11), in UTF-8 if a charset is named at all (§8.1: JSON exchanged
// between systems is UTF-8); otherwise ErrUnsupportedMediaType, answered
// 415 (RFC 9110 §15.5.16; OWASP ASVS 4.0.3 V13.1.5).
func jsonType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("%w: Content-Type %q", ErrUnsupportedMediaType, ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("%w: Content-Type %q", ErrUnsupportedMediaType, ct)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	jsonHeaders(w.Header())
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// jsonHeaders are an API answer's own headers: never cached (it holds a
// session's state or a CSRF token), never sniffed, and opened as a
// download rather than rendered should anyone navigate to it (OWASP ASVS
// 4.0.3 V14.4.2). application/json has no charset parameter: it is UTF-8
// (RFC 8259 §11).
func jsonHeaders(h http.Header) {
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", `attachment; filename="api.json"`)
}

// securityHeaders go on every answer of the endpoints and on WriteError's:
// nothing they send is a page to render, frame or embed elsewhere. CSP
// default-src 'none' lets nothing load or run should a browser render an
// answer, frame-ancestors 'none' and X-Frame-Options keep it out of frames
// (OWASP ASVS 5.0 V3.4.3, V3.4.6; 4.0.3 V14.4.3, V14.4.7), no Referer
// leaves (5.0 V3.4.5), Cross-Origin-Resource-Policy keeps other sites from
// loading it as a resource (5.0 V3.5.8), and HSTS keeps the browser on
// HTTPS (5.0 V3.4.1: a year at least, subdomains included; RFC 6797
// §6.1), except in Development, whose http://localhost a browser would
// otherwise remember.
func (m *Manager) securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !m.cfg.Development && m.cfg.HSTS != "off" {
		h.Set("Strict-Transport-Security", m.cfg.HSTS)
	}
}
