package loginsrv

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/totp/ocra"
)

// cookie is the client's session cookie for the server.
func (c *client) cookie() string {
	u, _ := url.Parse(c.base)
	for _, k := range c.c.Jar.Cookies(u) {
		if k.Name == "puce_login" {
			return k.Value
		}
	}
	return ""
}

// TestSessionRenewed: the session cookie changes when the password is
// accepted and again when the second factor completes the login (no
// fixation), a cookie from before the login opens nothing, and a session
// left idle for more than 5 minutes after its login has to log in again.
func TestSessionRenewed(t *testing.T) {
	clk := &clock{}
	ts, _ := newServer(t, clk)
	a := newAccount(t, ts.URL, clk, "alice")
	a.c.post(a.c.get("/account"), "/logout", url.Values{})

	page := a.c.get("/login")
	anon := a.c.cookie()
	page = a.c.post(page, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}})
	must(t, page, "Your password was right")
	half := a.c.cookie()
	clk.Advance(30 * time.Second)
	page = a.c.post(page, "/login/second", url.Values{"method": {"totp"}, "code": {code(t, a.secret, clk.Now())}})
	must(t, page, "Logged in with two factors")
	full := a.c.cookie()
	if anon == "" || anon == half || half == full || anon == full {
		t.Fatalf("cookies before, after the password and after the login: %q %q %q", anon, half, full)
	}
	// An attacker who planted or saw an earlier cookie holds nothing.
	for _, old := range []string{anon, half} {
		req, _ := http.NewRequest("GET", ts.URL+"/account", nil)
		req.AddCookie(&http.Cookie{Name: "puce_login", Value: old})
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") == "/account" {
			t.Fatalf("an earlier cookie on /account: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// 5 minutes and a second without a request: the login is over.
	clk.Advance(5*time.Minute + time.Second)
	a.c.get("/account")
	if a.c.last != "/login" {
		t.Fatalf("after 5 min 1 s idle, /account landed on %s", a.c.last)
	}
}

// TestTwoInstances: two servers over one database behind one address,
// each request going to the other one: sign-up, enrolment, login, a
// step-up and a payment approval all work, since sessions and every
// ceremony's state live in the store. (The one-line notices shown after a
// form are kept by the instance that wrote them, and may not show.)
func TestTwoInstances(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s := sqlstoretest.SQLite(t)
		twoInstances(t, s, s)
	})
	t.Run("postgres", func(t *testing.T) {
		// Two connection pools to one database, as two machines have.
		first, second := sqlstoretest.Postgres(t)
		twoInstances(t, first, second())
	})
}

func twoInstances(t *testing.T, stores ...identity.Store) {
	clk := &clock{}
	store := stores[0]
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	var servers [2]http.Handler
	for i := range servers {
		srv, err := New(Config{Store: stores[i], Sealer: sealer, Origin: ts.URL, Clock: clk,
			Argon2: identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = srv.Handler()
	}
	var n, hits [2]atomic.Int64
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n[0].Add(1) % 2
		hits[i].Add(1)
		servers[i].ServeHTTP(w, r)
	})

	a := newAccount(t, ts.URL, clk, "alice")
	page := a.c.get("/enroll/ocra")
	key, _ := hex.DecodeString(ocraKeyRE.FindStringSubmatch(page)[1])
	suite, _ := ocra.ParseSuite(ocraSuite)
	answer := func(q string, counter uint64) string {
		r, _ := suite.Response(key, ocra.Input{Question: q, Counter: counter})
		return r
	}
	a.c.post(page, "/enroll/ocra", url.Values{"code": {answer(ocraFirstRE.FindStringSubmatch(page)[1], 0)}})
	page = a.c.startPayment(payForm)
	_, ch := a.c.approveStep(page, "ocra", "begin", struct{}{})
	if status, e := a.c.finishApproval(page, "ocra", ch, answer("300010000", 1), nil); status != http.StatusOK {
		t.Fatalf("approval: %d %s", status, e.Error)
	}
	if n := payments(t, store, "alice"); n != 1 {
		t.Fatalf("%d payments", n)
	}
	clk.Advance(3 * time.Minute)
	page = a.c.get("/password")
	if a.c.last != "/stepup" {
		t.Fatalf("password change without step-up: %s", a.c.last)
	}
	page = a.c.post(page, "/stepup", url.Values{"method": {"totp"}, "code": {code(t, a.secret, clk.Now())}})
	if a.c.last != "/password" {
		t.Fatalf("step-up landed on %s", a.c.last)
	}
	if hits[0].Load() < 5 || hits[1].Load() < 5 {
		t.Fatalf("requests per instance: %d and %d", hits[0].Load(), hits[1].Load())
	}
}

// TestRefusedRequests: a form of more than 64 kB, a cross-site post and a
// post from a page without our session are refused with a page that says
// so, before any handler runs.
func TestRefusedRequests(t *testing.T) {
	ts, _ := newServer(t, &clock{})
	c := newClient(t, ts.URL)
	page := c.get("/login")
	resp := c.send(page, "/login", url.Values{"username": {"alice"}, "password": {strings.Repeat("x", 65<<10)}})
	body := c.read(resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Fatalf("a 65 kB form: %d\n%s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/login", strings.NewReader(url.Values{"username": {"alice"}, "csrf_token": {csrfRE.FindStringSubmatch(page)[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := c.read(resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not come from this site") {
		t.Fatalf("a cross-site post: %d\n%s", resp.StatusCode, body)
	}
	other := newClient(t, ts.URL)
	resp = other.send(page, "/login", url.Values{"username": {"alice"}, "password": {"x"}})
	if body := other.read(resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "did not come from this site") {
		t.Fatalf("a post without a session: %d\n%s", resp.StatusCode, body)
	}
}
