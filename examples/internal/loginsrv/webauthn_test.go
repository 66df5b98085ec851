package loginsrv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
)

// newWebAuthnServer runs the server on a localhost origin: WebAuthn accepts
// plain http there only (and never on an IP address).
func newWebAuthnServer(t *testing.T, clk *clock) string {
	t.Helper()
	var origin string
	_, _, srv := startServer(t, clk, func(cfg *Config) {
		origin = strings.Replace(cfg.Origin, "127.0.0.1", "localhost", 1)
		cfg.Origin = origin
	})
	if srv.wa == nil {
		t.Fatal("WebAuthn is off on a localhost origin")
	}
	return origin
}

var optionsRE = regexp.MustCompile(`data-options="([^"]+)"`)

// options reads the WebAuthn options a page hands its script.
func options(t *testing.T, page string) string {
	t.Helper()
	m := optionsRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no WebAuthn options on the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// device is an authenticator with one credential, as the browser would
// drive it.
type device struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

func newDevice(origin string, opts virtualwebauthn.AuthenticatorOptions) *device {
	return &device{
		rp:   virtualwebauthn.RelyingParty{Name: "puce example bank", ID: "localhost", Origin: origin},
		auth: virtualwebauthn.NewAuthenticatorWithOptions(opts),
		cred: p256Credential(),
	}
}

// p256Credential makes a P-256 credential whose public key virtualwebauthn
// encodes correctly: it writes each coordinate with big.Int.Bytes, which
// loses leading zero bytes (about one key in 128), and go-webauthn refuses
// the short coordinate. Such keys are drawn again.
func p256Credential() virtualwebauthn.Credential {
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		if len(k.X.Bytes()) < 32 || len(k.Y.Bytes()) < 32 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}

func (d *device) create(t *testing.T, optionsJSON string) string {
	t.Helper()
	o, err := virtualwebauthn.ParseAttestationOptions(optionsJSON)
	if err != nil {
		t.Fatal(err)
	}
	d.auth.Options.UserHandle = []byte(o.UserID)
	return virtualwebauthn.CreateAttestationResponse(d.rp, d.auth, d.cred, *o)
}

func (d *device) get(t *testing.T, optionsJSON string) string {
	t.Helper()
	o, err := virtualwebauthn.ParseAssertionOptions(optionsJSON)
	if err != nil {
		t.Fatal(err)
	}
	d.cred.Counter++
	return virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *o)
}

// passkeyOptions asks for a username-less login as the login page's
// script does, with the page's CSRF token in a header.
func (c *client) passkeyOptions(page string) (challenge, optionsJSON string, status int) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/login/passkey/options", nil)
	if m := csrfRE.FindStringSubmatch(page); m != nil {
		req.Header.Set("X-CSRF-Token", m[1])
	}
	req.Header.Set("Origin", c.base)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", string(body), resp.StatusCode
	}
	var j struct {
		Challenge string          `json:"challenge"`
		Options   json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal(body, &j); err != nil {
		c.t.Fatalf("passkey options: %v: %s", err, body)
	}
	return j.Challenge, string(j.Options), resp.StatusCode
}

var factorRowRE = regexp.MustCompile(`(?s)<tr class="factor" data-kind="webauthn">.*?name="id" value="([^"]+)">.*?name="name" value="([^"]+)"`)

// TestWebAuthnFlow walks an account's life with a security key and a
// passkey over HTTP: enrolment of both, password + key, step-up with the
// key, passkey alone (synced: AAL2), a revoked passkey refused with a clear
// message, a passkey without user verification refused.
func TestWebAuthnFlow(t *testing.T) {
	clk := &clock{}
	origin := newWebAuthnServer(t, clk)
	c := newClient(t, origin)
	key := newDevice(origin, virtualwebauthn.AuthenticatorOptions{})
	// A phone's passkey, synced to the user's other devices (BE, BS).
	phone := newDevice(origin, virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true})

	page := c.get("/signup")
	page = c.post(page, "/signup", url.Values{"username": {"dave"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}})
	must(t, page, `id="add-key"`)
	must(t, page, `id="add-passkey"`)

	// The security key: enrolled, then used at once to end the sign-up.
	page = c.get("/enroll/key")
	must(t, page, `src="/static/webauthn.js"`)
	opts := options(t, page)
	must(t, opts, `"authenticatorAttachment":"cross-platform"`)
	page = c.post(page, "/enroll/key", url.Values{"credential": {key.create(t, opts)}, "name": {"usb key"}})
	must(t, page, "Security key added")
	page = c.get("/login/second?method=webauthn")
	page = c.post(page, "/login/second", url.Values{"method": {"webauthn"}, "credential": {key.get(t, options(t, page))}})
	must(t, page, "Logged in with two factors (AAL2")
	must(t, page, "usb key")

	// The passkey.
	page = c.get("/enroll/passkey")
	opts = options(t, page)
	must(t, opts, `"residentKey":"required"`)
	must(t, opts, `"userVerification":"required"`)
	page = c.post(page, "/enroll/passkey", url.Values{"credential": {phone.create(t, opts)}, "name": {"phone"}})
	must(t, page, "Passkey added")
	must(t, page, "synced")

	// Password + key again; the second step lists both credentials.
	page = c.post(page, "/logout", url.Values{})
	page = c.post(page, "/login", url.Values{"username": {"dave"}, "password": {"correct horse battery"}})
	must(t, page, "Your password was right")
	opts = options(t, page)
	if n := strings.Count(opts, `"type":"public-key","id"`); n != 2 {
		t.Fatalf("allowCredentials lists %d credentials, want 2: %s", n, opts)
	}
	page = c.post(page, "/login/second", url.Values{"method": {"webauthn"}, "credential": {key.get(t, opts)}})
	must(t, page, "Logged in with two factors (AAL2")

	// Step-up before a password change, with the key.
	clk.Advance(3 * time.Minute)
	page = c.get("/password")
	if c.last != "/stepup" {
		t.Fatalf("password change without step-up: landed on %s", c.last)
	}
	page = c.post(page, "/stepup", url.Values{"method": {"webauthn"}, "credential": {key.get(t, options(t, page))}})
	if c.last != "/password" {
		t.Fatalf("step-up did not return to the password page: %s\n%s", c.last, page)
	}
	page = c.post(page, "/password", url.Values{"password": {"a new long password"}, "password2": {"a new long password"}})
	must(t, page, "Password changed")

	// The passkey alone: the options come from the login page's script.
	page = c.post(page, "/logout", url.Values{})
	must(t, page, `autocomplete="username webauthn"`)
	if _, body, status := c.passkeyOptions(""); status != http.StatusForbidden {
		t.Fatalf("passkey options without the CSRF token: status %d, want 403: %s", status, body)
	}
	ch, opts, _ := c.passkeyOptions(page)
	must(t, opts, `"mediation":"conditional"`)
	if strings.Contains(opts, "allowCredentials") {
		t.Fatalf("username-less options name credentials: %s", opts)
	}
	answer := phone.get(t, opts)
	page = c.post(page, "/login/passkey", url.Values{"challenge": {ch}, "credential": {answer}})
	// Synced: the key may exist on several devices, so AAL2.
	must(t, page, "Logged in with a passkey (AAL2, eIDAS substantial)")
	must(t, page, `<b id="user">dave</b>`)

	// Revoke the passkey; it then fails with a clear message.
	rows := factorRowRE.FindAllStringSubmatch(page, -1)
	var phoneID string
	for _, r := range rows {
		if r[2] == "phone" {
			phoneID = r[1]
		}
	}
	if phoneID == "" {
		t.Fatalf("no passkey row on the account page:\n%s", page)
	}
	page = c.post(page, "/factor/revoke", url.Values{"kind": {"webauthn"}, "id": {phoneID}})
	must(t, page, "removed")
	page = c.post(page, "/logout", url.Values{})
	ch, opts, _ = c.passkeyOptions(page)
	page = c.post(page, "/login/passkey", url.Values{"challenge": {ch}, "credential": {phone.get(t, opts)}})
	must(t, page, "This passkey is not registered here")
	// Replaying the answer that logged in before gets nowhere either.
	page = c.post(page, "/login/passkey", url.Values{"challenge": {ch}, "credential": {answer}})
	must(t, page, `class="error"`)
	if strings.Contains(page, "Logged in") {
		t.Fatal("a replayed passkey answer logged in")
	}

	// The key is the account's last second factor: it cannot be removed.
	page = c.post(page, "/login", url.Values{"username": {"dave"}, "password": {"a new long password"}})
	page = c.post(page, "/login/second", url.Values{"method": {"webauthn"}, "credential": {key.get(t, options(t, page))}})
	must(t, page, "Logged in with two factors")
	rows = factorRowRE.FindAllStringSubmatch(page, -1)
	if len(rows) != 1 {
		t.Fatalf("want one WebAuthn factor left, got %d", len(rows))
	}
	page = c.post(page, "/factor/revoke", url.Values{"kind": {"webauthn"}, "id": {rows[0][1]}})
	must(t, page, "This is your only second factor")

	// A passkey whose authenticator did not verify the user is refused at
	// registration: it could not log in alone.
	lazy := newDevice(origin, virtualwebauthn.AuthenticatorOptions{UserNotVerified: true})
	page = c.get("/enroll/passkey")
	page = c.post(page, "/enroll/passkey", url.Values{"credential": {lazy.create(t, options(t, page))}, "name": {"no uv"}})
	must(t, page, `class="error"`)
	if strings.Contains(page, "Passkey added") {
		t.Fatal("a passkey without user verification was added")
	}
}

// TestRPIDFor: WebAuthn runs on https and on localhost, never on an IP
// address or plain http elsewhere.
func TestRPIDFor(t *testing.T) {
	for origin, want := range map[string]string{
		"https://bank.example":       "bank.example",
		"https://login.bank.example": "login.bank.example",
		"http://localhost:8080":      "localhost",
		"http://app.localhost:8080":  "app.localhost",
		"http://127.0.0.1:8080":      "",
		"https://127.0.0.1":          "",
		"https://[::1]:8443":         "",
		"http://bank.example":        "",
	} {
		if got := rpIDFor(origin); got != want {
			t.Errorf("rpIDFor(%q) = %q, want %q", origin, got, want)
		}
	}
}
