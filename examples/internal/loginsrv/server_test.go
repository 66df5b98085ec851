package loginsrv

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	otptotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
)

// clock is a settable clock, so the test reaches the next TOTP step without
// waiting 30 seconds.
type clock = identitytest.RunningClock

type client struct {
	t    *testing.T
	base string
	c    *http.Client
	last string
	// lastURL is the whole URL of the last page, query included.
	lastURL string
}

func (c *client) get(path string) string {
	c.t.Helper()
	resp, err := c.c.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.read(resp)
}

func (c *client) read(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c.last, c.lastURL = resp.Request.URL.Path, resp.Request.URL.String()
	return string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
var challengeRE = regexp.MustCompile(`name="challenge" value="([^"]+)"`)

// post submits a form of the page body, with its CSRF token and challenge.
func (c *client) post(page, path string, vals url.Values) string {
	c.t.Helper()
	return c.read(c.send(page, path, vals))
}

// send posts the form as post does and returns the response unread.
func (c *client) send(page, path string, vals url.Values) *http.Response {
	c.t.Helper()
	if m := csrfRE.FindStringSubmatch(page); m != nil && vals.Get("csrf_token") == "" {
		vals.Set("csrf_token", m[1])
	}
	if m := challengeRE.FindStringSubmatch(page); m != nil && vals.Get("challenge") == "" {
		vals.Set("challenge", m[1])
	}
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func code(t *testing.T, secret string, at time.Time) string {
	c, err := otptotp.GenerateCodeCustom(secret, at, otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func must(t *testing.T, page, want string) {
	t.Helper()
	if !strings.Contains(page, want) {
		t.Fatalf("page does not say %q:\n%s", want, page)
	}
}

func newServer(t *testing.T, clk *clock) (*httptest.Server, identity.Store) {
	t.Helper()
	ts, store, _ := startServer(t, clk, nil)
	return ts, store
}

// startServer runs the login server on a fresh SQLite store with fast
// password hashing; configure, when given, adjusts the configuration once
// the test server's URL is known.
func startServer(t *testing.T, clk *clock, configure func(cfg *Config)) (*httptest.Server, identity.Store, *Server) {
	t.Helper()
	store, err := sqlstore.OpenSQLite(context.Background(), t.TempDir()+"/login.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	cfg := Config{Store: store, Sealer: sealer, Origin: ts.URL, Clock: clk,
		Argon2: identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	return ts, store, srv
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, c: &http.Client{Jar: jar}}
}

// TestTOTPFlow walks the whole password + TOTP life of an account over HTTP:
// sign-up, enrolment, login, wrong and replayed codes, recovery codes,
// step-up before a password change, logout.
func TestTOTPFlow(t *testing.T) {
	clk := &clock{}
	ts, _ := newServer(t, clk)
	c := newClient(t, ts.URL)

	page := c.get("/signup")
	page = c.post(page, "/signup", url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}})
	must(t, page, "Account created")
	page = c.get("/enroll/totp")
	secret := regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	if secret == nil {
		t.Fatalf("no secret on the page:\n%s", page)
	}
	must(t, page, `src="data:image/png;base64,`)
	page = c.post(page, "/enroll/totp", url.Values{"code": {code(t, secret[1], clk.Now())}, "name": {"phone"}})
	must(t, page, "Authenticator app added")
	// The enrolment code is spent; the next step's code logs in.
	page = c.post(page, "/login/second", url.Values{"method": {"totp"}, "code": {code(t, secret[1], clk.Now())}})
	must(t, page, "already used")
	next := code(t, secret[1], clk.Now().Add(30*time.Second))
	page = c.post(page, "/login/second", url.Values{"method": {"totp"}, "code": {next}})
	must(t, page, "Logged in with two factors (AAL2")
	must(t, page, "Audit chain verified")
	must(t, page, "phone")

	page = c.post(page, "/logout", url.Values{})
	must(t, page, "You are logged out")

	// Wrong password, then right password; wrong code; replayed code.
	page = c.post(page, "/login", url.Values{"username": {"alice"}, "password": {"wrong password"}})
	must(t, page, "The user name or the password is not right")
	page = c.post(page, "/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}})
	must(t, page, "The user name or the password is not right")
	page = c.post(page, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}})
	must(t, page, "Your password was right")
	if strings.Contains(page, "tries left") {
		t.Fatal("the password step told the tries left")
	}
	page = c.post(page, "/login/second", url.Values{"method": {"totp"}, "code": {"000000"}})
	must(t, page, "That was not right")
	// The password proven, the page says how many tries remain before the
	// lock (DeploymentThrottle's LockAfter is 20).
	must(t, page, "19 tries left before this method locks.")
	page = c.post(page, "/login/second", url.Values{"method": {"totp"}, "code": {"12ab"}})
	must(t, page, "Type the 6 digits")
	page = c.post(page, "/login/second", url.Values{"method": {"totp"}, "code": {next}})
	must(t, page, "already used")
	must(t, page, "18 tries left before this method locks.")
	clk.Advance(60 * time.Second)
	page = c.post(page, "/login/second", url.Values{"method": {"totp"}, "code": {code(t, secret[1], clk.Now())}})
	must(t, page, "Logged in with two factors")

	// A form without the CSRF token is refused.
	page2 := c.post("", "/password", url.Values{"password": {"x"}, "csrf_token": {"forged"}})
	must(t, page2, "did not come from this site")

	// Recovery codes right after login: fresh enough, no step-up.
	page = c.get("/recovery")
	codes := regexp.MustCompile(`<li>([0-9-]{16,})</li>`).FindAllStringSubmatch(page, -1)
	if len(codes) != 10 {
		t.Fatalf("want 10 recovery codes, got %d:\n%s", len(codes), page)
	}
	page = c.post(page, "/recovery", url.Values{"code": {codes[3][1]}})
	must(t, page, "Recovery codes saved")
	must(t, page, "10 unused recovery codes")

	// Three minutes later, changing the password needs a fresh factor.
	clk.Advance(3 * time.Minute)
	page = c.get("/password")
	if c.last != "/stepup" {
		t.Fatalf("password change without step-up: landed on %s", c.last)
	}
	must(t, page, "needs a fresh proof")
	page = c.post(page, "/stepup", url.Values{"method": {"totp"}, "code": {code(t, secret[1], clk.Now())}})
	if c.last != "/password" {
		t.Fatalf("step-up did not return to the password page: %s\n%s", c.last, page)
	}
	page = c.post(page, "/password", url.Values{"password": {"a new long password"}, "password2": {"a new long password"}})
	must(t, page, "Password changed")
	must(t, page, "password-change")
	page = c.post(page, "/logout", url.Values{})

	// Log in with a recovery code: only enough to set up a new factor.
	page = c.post(page, "/login", url.Values{"username": {"alice"}, "password": {"a new long password"}})
	page = c.get("/login/second?method=recovery")
	page = c.post(page, "/login/second", url.Values{"method": {"recovery"}, "code": {codes[0][1]}})
	must(t, page, "Recovery code accepted (9 left)")
	if c.last != "/setup" {
		t.Fatalf("recovery login landed on %s", c.last)
	}
	page = c.get("/account")
	if c.last == "/account" {
		t.Fatal("a recovery code alone opened the account page")
	}
}

// TestSignupTaken: a second sign-up with the same name does not replace
// the first account's password.
func TestSignupTaken(t *testing.T) {
	ts, _ := newServer(t, &clock{})
	c := newClient(t, ts.URL)
	page := c.get("/signup")
	page = c.post(page, "/signup", url.Values{"username": {"bob"}, "password": {"first password"}, "password2": {"first password"}})
	c2 := newClient(t, ts.URL)
	page = c2.get("/signup")
	page = c2.post(page, "/signup", url.Values{"username": {"bob"}, "password": {"second password"}, "password2": {"second password"}})
	must(t, page, "This user name is taken")
}

// The login server's own ceremony starts (the password step here) count
// against httpauth's start limit as the library's endpoints do: past the
// burst, 429 with Retry-After, and the wait it names is enough.
func TestStartsLimited(t *testing.T) {
	clk := &clock{}
	ts, _, _ := startServer(t, clk, func(cfg *Config) { cfg.Starts = httpauth.StartLimit{PerMinute: 6, Burst: 3} })
	c := newClient(t, ts.URL)
	page := c.post(c.get("/signup"), "/signup", url.Values{"username": {"erin"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}})
	for range 2 {
		page = c.post(c.get("/login"), "/login", url.Values{"username": {"erin"}, "password": {"correct horse battery"}})
		must(t, page, "needs a second factor before you can use it")
	}
	resp := c.send(c.get("/login"), "/login", url.Values{"username": {"erin"}, "password": {"correct horse battery"}})
	page = c.read(resp)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "10" {
		t.Fatalf("the fourth start: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	must(t, page, "Too many requests. Please wait a moment, then try again.")
	clk.Advance(10 * time.Second)
	page = c.post(c.get("/login"), "/login", url.Values{"username": {"erin"}, "password": {"correct horse battery"}})
	must(t, page, "needs a second factor before you can use it")
}

// forwarded is a reverse proxy's transport: it appends the client's
// address to X-Forwarded-For.
type forwarded struct{ client string }

func (f forwarded) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.client)
	return http.DefaultTransport.RoundTrip(r)
}

// Behind its proxy the server counts and audits the client the proxy
// names, not the proxy (httpauth.Manager.ClientAddr).
func TestBehindProxy(t *testing.T) {
	clk := &clock{}
	ts, store, _ := startServer(t, clk, func(cfg *Config) {
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	c := newClient(t, ts.URL)
	c.c.Transport = forwarded{"198.51.100.9"}
	page := c.post(c.get("/signup"), "/signup", url.Values{"username": {"frank"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}})
	must(t, page, "needs a second factor")
	recs, err := store.AuditEvents(context.Background(), "frank", 1)
	if err != nil || len(recs) != 1 || recs[0].Event.RemoteAddr != "198.51.100.9" {
		t.Fatalf("audit %+v, %v; want the client's address", recs, err)
	}
}
