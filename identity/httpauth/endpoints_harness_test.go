package httpauth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
	"github.com/puce-id/puce/totp"
	"github.com/puce-id/puce/webauthn"
)

// fullStore is what a site keeps its state in: memstore or sqlstore.
type fullStore interface {
	identity.Store
	identity.SessionStore
}

// shared is what the instances of one site have in common: the store, the
// clock and the sealing key.
type shared struct {
	store     fullStore
	clock     *identitytest.Clock
	sealerKey []byte
	// signCard is a CA-issued virtual card for the signing endpoints
	// (sign_test.go).
	signCard *testcard.Card
}

func newShared(store fullStore) *shared {
	return &shared{store: store, clock: identitytest.NewClock(identitytest.Epoch()), sealerKey: identity.GenerateSealerKey(), signCard: newSignCard()}
}

// site is one server instance: the library's endpoints at /auth/, and the
// application's own page that puts a payment up for approval.
type site struct {
	*shared
	passwords *identity.Passwords
	totp      *totp.Factor
	wa        *webauthn.Factor
	card      *cardauth.Factor
	m         *httpauth.Manager
	api       *httpauth.Endpoints
	handler   http.Handler

	mu       sync.Mutex
	approved []identity.Transaction
	signed   map[string][]byte // document ID → .p7s (sign_test.go)
	// log holds what the Manager logged: the detail behind public answers.
	log lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was logged since the last take.
func (b *lockedBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// paymentKey is where the application keeps the pending payment: in the
// session, written by its own handler, never by the endpoints' client.
const paymentKey = "payment"

// siteOption changes a site's configuration before it is built.
type siteOption func(*httpauth.Config, *httpauth.EndpointsConfig)

func newSite(t testing.TB, sh *shared, opts ...siteOption) *site {
	t.Helper()
	s := &site{shared: sh}
	throttle := &identity.Throttle{Store: sh.store, Clock: sh.clock}
	s.passwords = &identity.Passwords{Store: sh.store, Throttle: throttle, Audit: sh.store, Clock: sh.clock,
		Params: identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	svc := &identity.Services{Store: sh.store, Clock: sh.clock, Throttle: throttle, Audit: sh.store}
	sealer, err := identity.NewSealer("k1", map[string][]byte{"k1": sh.sealerKey})
	if err != nil {
		t.Fatal(err)
	}
	if s.totp, err = totp.New(svc, sealer, "Example Bank"); err != nil {
		t.Fatal(err)
	}
	if s.wa, err = webauthn.New(svc, webauthn.Config{RPID: "bank.example", RPDisplayName: "Example Bank", Origins: []string{origin}}); err != nil {
		t.Fatal(err)
	}
	// Self-issued cards, their keys pinned: no CA or OCSP to set up; and
	// the signing card's CA.
	if s.card, err = cardauth.New(svc, cardauth.Config{AllowSelfIssued: true, Roots: sh.signCard.PKI.Roots,
		Intermediates: sh.signCard.PKI.Intermediates, SkipRevocation: true}); err != nil {
		t.Fatal(err)
	}
	mcfg := httpauth.Config{Store: sh.store, Origin: origin, Clock: sh.clock,
		Logger: slog.New(slog.NewTextHandler(&s.log, nil))}
	ecfg := httpauth.EndpointsConfig{
		Factors:   []identity.Authenticator{s.totp, s.wa, s.card},
		Passwords: s.passwords,
		SignUp:    true,
		PendingPayment: func(r *http.Request, sess *httpauth.Session) (*identity.Transaction, error) {
			v := sess.Value(paymentKey)
			if v == "" {
				return nil, nil
			}
			var tx identity.Transaction
			return &tx, json.Unmarshal([]byte(v), &tx)
		},
		PaymentApproved: func(r *http.Request, sess *httpauth.Session, tx identity.Transaction, p identity.Proof) error {
			// Single: the payment leaves the session before it is paid, and
			// Save fails if a parallel request changed the session first.
			sess.SetValue(paymentKey, "")
			if err := s.m.Save(r.Context(), sess); err != nil {
				return err
			}
			s.mu.Lock()
			s.approved = append(s.approved, tx)
			s.mu.Unlock()
			return nil
		},
		Signing: s.signing(t, svc),
	}
	for _, o := range opts {
		o(&mcfg, &ecfg)
	}
	if s.m, err = httpauth.New(mcfg); err != nil {
		t.Fatal(err)
	}
	if s.api, err = s.m.Endpoints(ecfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", s.api)
	// The application's page: the user asks to pay; the payment waits in
	// the session for approval.
	mux.HandleFunc("POST /app/pay", func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.m.Load(r)
		if err != nil {
			s.m.WriteError(w, r, err)
			return
		}
		if err := s.m.Authorize(sess, "pay"); err != nil {
			s.m.WriteError(w, r, err)
			return
		}
		var tx identity.Transaction
		if err := json.NewDecoder(r.Body).Decode(&tx); err != nil {
			s.m.WriteError(w, r, errors.Join(identity.ErrBadInput, err))
			return
		}
		b, _ := json.Marshal(tx)
		sess.SetValue(paymentKey, string(b))
		if err := s.m.Save(r.Context(), sess); err != nil {
			s.m.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	s.handler = s.m.Protect(mux)
	return s
}

func (s *site) payments() []identity.Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]identity.Transaction(nil), s.approved...)
}

// exchange is one request and its answer, kept for the contract test.
type exchange struct {
	method, path string
	status       int
	body         []byte
}

// client is a browser's script calling the endpoints: it keeps the
// cookie and the latest CSRF token the endpoints gave it.
type client struct {
	t      testing.TB
	cookie string
	csrf   string
	seen   []exchange
	// remote is the peer address (default httptest's 192.0.2.1:1234);
	// header holds extra request headers (a proxy's X-Forwarded-For).
	remote string
	header map[string]string
}

// call sends body (nil: none; a string or []byte: as it is; else JSON) and
// returns the status and the answer.
func (c *client) call(s *site, method, path string, body any) (int, http.Header, []byte) {
	c.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, origin+path, rd)
	if method != http.MethodGet {
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set(httpauth.CSRFHeader, c.csrf)
	}
	if c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: s.m.CookieName(), Value: c.cookie})
	}
	if c.remote != "" {
		r.RemoteAddr = c.remote
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	res := w.Result()
	for _, ck := range res.Cookies() {
		if ck.Name == s.m.CookieName() {
			c.cookie = ck.Value
		}
	}
	var st struct {
		CSRF string `json:"csrfToken"`
	}
	if json.Unmarshal(w.Body.Bytes(), &st) == nil && st.CSRF != "" {
		c.csrf = st.CSRF
	}
	c.seen = append(c.seen, exchange{method, path, res.StatusCode, w.Body.Bytes()})
	return res.StatusCode, res.Header, w.Body.Bytes()
}

// must calls and fails the test unless the answer has status want; it
// decodes the answer into out (when not nil).
func (c *client) must(s *site, want int, method, path string, body, out any) {
	c.t.Helper()
	status, _, raw := c.call(s, method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, status, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

// The answers, as a client reads them.
type stateAnswer struct {
	Subject   string          `json:"subject"`
	Level     string          `json:"level"`
	Complete  bool            `json:"complete"`
	CSRFToken string          `json:"csrfToken"`
	Next      []identity.Kind `json:"next"`
	Enroll    []identity.Kind `json:"enroll"`
}

type challengeAnswer struct {
	ChallengeID string          `json:"challengeId"`
	Kind        string          `json:"kind"`
	Payload     json.RawMessage `json:"payload"`
	QRCode      string          `json:"qrCode"`
	Transaction *txAnswer       `json:"transaction"`
}

type txAnswer struct {
	Amount       string `json:"amount"`
	Currency     string `json:"currency"`
	PayeeName    string `json:"payeeName"`
	PayeeAccount string `json:"payeeAccount"`
	Reference    string `json:"reference,omitempty"`
	Text         string `json:"text,omitempty"`
}

type errorAnswer struct {
	Error string `json:"error"`
}

// signUpPassword creates subject's account with a password, as an
// administrator would, outside the endpoints.
func (s *site) signUpPassword(t testing.TB, subject identity.Subject) {
	t.Helper()
	if _, err := s.passwords.Create(context.Background(), subject, "correct horse battery", ""); err != nil {
		t.Fatal(err)
	}
}

// enrollTOTP gives subject a TOTP key outside the endpoints and returns a
// function that computes its current code.
func (s *site) enrollTOTP(t testing.TB, subject identity.Subject) func() string {
	t.Helper()
	ctx := context.Background()
	ch, err := s.totp.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	code := codeFor(t, s.clock, string(ch.Payload))
	if _, err := s.totp.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: []byte(code())}); err != nil {
		t.Fatal(err)
	}
	// The enrolment spent this step's code.
	s.clock.Advance(30 * time.Second)
	return code
}

func codeFor(t testing.TB, clock identity.Clock, uri string) func() string {
	t.Helper()
	key, err := totp.ParseURI(uri)
	if err != nil {
		t.Fatalf("otpauth URI %q: %v", uri, err)
	}
	return func() string {
		c, err := pqtotp.GenerateCode(key.Base32(), clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// wrongCode is a code that is not current.
func wrongCode(current string) string {
	if current == "000000" {
		return "111111"
	}
	return "000000"
}

// device is a security key (virtualwebauthn), as webauthn's own tests use.
type device struct {
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
	rp   virtualwebauthn.RelyingParty
}

func newDevice() *device {
	return &device{auth: virtualwebauthn.NewAuthenticator(), cred: ec2Credential(),
		rp: virtualwebauthn.RelyingParty{Name: "Example Bank", ID: "bank.example", Origin: origin}}
}

// ec2Credential is a P-256 key with full-length coordinates, which
// virtualwebauthn would otherwise shorten (see webauthn/helpers_test.go).
func ec2Credential() virtualwebauthn.Credential {
	for {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if len(k.X.Bytes()) != 32 || len(k.Y.Bytes()) != 32 {
			continue
		}
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}

// create answers creation options with an attestation of format "none",
// as browsers send by default.
func (d *device) create(t testing.TB, options []byte) json.RawMessage {
	t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(string(options))
	if err != nil {
		t.Fatalf("creation options %s: %v", options, err)
	}
	d.auth.Options.UserHandle = []byte(opts.UserID)
	var m map[string]any
	json.Unmarshal([]byte(virtualwebauthn.CreateAttestationResponse(d.rp, d.auth, d.cred, *opts)), &m)
	r := m["response"].(map[string]any)
	raw, _ := base64.RawURLEncoding.DecodeString(r["attestationObject"].(string))
	var ao struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}
	if err := webauthncbor.Unmarshal(raw, &ao); err != nil {
		t.Fatal(err)
	}
	ao.Fmt, ao.AttStmt = "none", map[string]any{}
	b, _ := webauthncbor.Marshal(ao)
	r["attestationObject"] = base64.RawURLEncoding.EncodeToString(b)
	out, _ := json.Marshal(m)
	return out
}

// get answers request options with an assertion.
func (d *device) get(t testing.TB, options []byte) json.RawMessage {
	t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(string(options))
	if err != nil {
		t.Fatalf("request options %s: %v", options, err)
	}
	d.cred.Counter++
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *opts))
}

// unquote reads a payload that is a JSON string.
func unquote(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("payload %s is not a JSON string: %v", raw, err)
	}
	return s
}

func hasKind(kinds []identity.Kind, k identity.Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}
