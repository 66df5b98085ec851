package httpauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

func TestCookieAttributes(t *testing.T) {
	a := memApp(t)
	b := &browser{t: t}
	res, _ := b.do(a, req{method: "GET", path: "/login"})
	cs := res.Cookies()
	if len(cs) != 1 {
		t.Fatalf("%d cookies set, want 1", len(cs))
	}
	c := cs[0]
	if c.Name != "__Host-puce_session" || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v: want __Host-puce_session, Secure, HttpOnly, Path=/, no Domain, SameSite=Lax", c)
	}

	dev, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: "http://localhost:8080", Development: true})
	if err != nil {
		t.Fatal(err)
	}
	if dev.CookieName() != "puce_session" {
		t.Fatalf("development cookie %q: a __Host- cookie needs TLS", dev.CookieName())
	}
	for _, bad := range []httpauth.Config{
		{Store: memstore.New(), Origin: "http://bank.example"},
		{Store: memstore.New(), Origin: "http://bank.example", Development: true},
		{Store: memstore.New(), Origin: "https://bank.example", Development: true},
		{Store: memstore.New(), Origin: "https://bank.example/login"},
		{Store: memstore.New(), Origin: ""},
		{Origin: origin},
	} {
		if _, err := httpauth.New(bad); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
}

// An ID planted before login — one we issued to an attacker, or one the
// attacker made up — is not the one after: each level change moves the
// session to a new ID, and the old ID is dead.
func TestSessionFixationRefused(t *testing.T) {
	a := memApp(t)
	attacker := &browser{t: t}
	attacker.do(a, req{method: "GET", path: "/login"})
	planted := attacker.cookie

	victim := &browser{t: t, cookie: planted}
	victim.do(a, req{method: "GET", path: "/login"}) // the planted session is live: the page uses it
	victim.csrf = attacker.csrf
	if victim.cookie != planted {
		t.Fatal("a live session was replaced on a plain page view")
	}
	res, _ := victim.do(a, req{method: "POST", path: "/password", form: url.Values{"user": {"alice"}, "password": {"correct horse"}}})
	afterPassword := victim.cookie
	if res.StatusCode != 200 || afterPassword == planted {
		t.Fatalf("after the password: status %d, same ID %v", res.StatusCode, afterPassword == planted)
	}
	victim.do(a, req{method: "POST", path: "/totp", form: url.Values{}})
	if victim.cookie == afterPassword || victim.cookie == planted {
		t.Fatal("the login did not move the session to a new ID")
	}
	if res, st := victim.do(a, req{method: "GET", path: "/me"}); res.StatusCode != 200 || st.Subject != "alice" {
		t.Fatalf("victim after login: %d %+v", res.StatusCode, st)
	}
	spy := &browser{t: t, cookie: afterPassword}
	if res, st := spy.do(a, req{method: "GET", path: "/me"}); res.StatusCode != http.StatusUnauthorized || st.Subject != "" {
		t.Fatalf("an ID from before a level change still works: %d %+v", res.StatusCode, st)
	}
	// The planted visitor's cookie is still a visitor's, and nothing more.
	spy = &browser{t: t, cookie: planted}
	if res, st := spy.do(a, req{method: "GET", path: "/me"}); res.StatusCode != 200 || st.Subject != "" || st.Level != "none" {
		t.Fatalf("the planted visitor's cookie after the victim's login: %d %+v", res.StatusCode, st)
	}

	// A made-up ID of a stored session is never adopted: the sign-in page
	// starts a session of its own.
	madeUp := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	fresh := &browser{t: t, cookie: madeUp}
	fresh.do(a, req{method: "GET", path: "/login"})
	if fresh.cookie == madeUp {
		t.Fatal("a session was started under an ID the client chose")
	}
}

// Unsafe requests are refused unless they come from our origin (when the
// browser says) and carry the session's token (always).
func TestCSRFRefused(t *testing.T) {
	a := memApp(t)
	b := &browser{t: t}
	b.do(a, req{method: "GET", path: "/login"})
	good := url.Values{"user": {"alice"}, "password": {"correct horse"}}
	cases := []struct {
		name string
		q    req
		want int
	}{
		{"no Origin, no Sec-Fetch-Site, no token", req{noOrigin: true, noCSRF: true}, http.StatusForbidden},
		{"same origin, no token", req{noCSRF: true}, http.StatusForbidden},
		{"same origin, wrong token", req{header: map[string]string{httpauth.CSRFHeader: "AAAA"}}, http.StatusForbidden},
		{"cross-site Origin, right token", req{header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}}, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site, right token", req{header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden},
		{"cross-site Origin and Sec-Fetch-Site, right token", req{header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden},
		{"Sec-Fetch-Site none (typed by the user), right token", req{header: map[string]string{"Sec-Fetch-Site": "none"}}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site (a sibling host), right token", req{header: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://app.bank.example"}}, http.StatusForbidden},
		{"opaque Origin, right token", req{header: map[string]string{"Origin": "null", "Sec-Fetch-Site": ""}}, http.StatusForbidden},
		{"http Origin of our host, right token", req{header: map[string]string{"Origin": "http://bank.example"}}, http.StatusForbidden},
		// A client that sends neither header still needs the token, and
		// passes with it (an older browser, a script).
		{"no Origin, no Sec-Fetch-Site, right token", req{noOrigin: true}, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			saved := *b
			ran := a.ran
			c.q.method, c.q.path, c.q.form = "POST", "/password", url.Values{"user": good["user"], "password": good["password"]}
			res, st := b.do(a, c.q)
			if res.StatusCode != c.want {
				t.Fatalf("status %d, want %d (%+v)", res.StatusCode, c.want, st)
			}
			if c.want == http.StatusForbidden {
				if a.ran != ran {
					t.Fatal("the handler ran for a refused request")
				}
				if st.Error == "" || strings.Contains(st.Error, "Origin") || strings.Contains(st.Error, "evil") || strings.Contains(st.Error, "token") {
					t.Fatalf("public answer %q", st.Error)
				}
			}
			*b = saved
		})
	}
	// A token belongs to its session: another browser's is refused.
	other := &browser{t: t}
	other.do(a, req{method: "GET", path: "/login"})
	other.csrf = b.csrf
	if res, _ := other.do(a, req{method: "POST", path: "/password", form: good}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("another session's token: status %d", res.StatusCode)
	}
	// Without a session there is no token to match.
	none := &browser{t: t, csrf: b.csrf}
	if res, _ := none.do(a, req{method: "POST", path: "/password", form: good}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no session: status %d", res.StatusCode)
	}
}

func TestIdleTimeout(t *testing.T) {
	a := memApp(t)
	b := &browser{t: t}
	b.signIn(a)
	// Activity keeps a session alive…
	for range 3 {
		a.clock.Advance(httpauth.DefaultIdleTimeout - time.Second)
		if res, _ := b.do(a, req{method: "GET", path: "/me"}); res.StatusCode != 200 {
			t.Fatalf("active session refused: %d", res.StatusCode)
		}
	}
	// …idleness ends it, for reading and for writing.
	a.clock.Advance(httpauth.DefaultIdleTimeout)
	ran := a.ran
	res, st := b.do(a, req{method: "POST", path: "/totp", form: url.Values{}})
	if res.StatusCode != http.StatusUnauthorized || a.ran != ran || st.Error == "" {
		t.Fatalf("POST on an idle session: %d %+v", res.StatusCode, st)
	}
	if res, _ := b.do(a, req{method: "GET", path: "/me"}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET on an idle session: %d", res.StatusCode)
	}

	// A visitor may read the sign-in page for as long as they like: their
	// session is their cookie, its CSRF token derived from it.
	v := &browser{t: t}
	v.do(a, req{method: "GET", path: "/login"})
	csrf := v.csrf
	a.clock.Advance(httpauth.DefaultAnonymousIdleTimeout + time.Minute)
	if res, st := v.do(a, req{method: "GET", path: "/me"}); res.StatusCode != 200 || st.CSRF != csrf {
		t.Fatalf("visitor after the anonymous idle timeout: %d %+v", res.StatusCode, st)
	}
	// What a visitor's session stored ends after AnonymousIdleTimeout.
	storeVisitor(t, a, v, "k", "v")
	a.clock.Advance(20 * time.Minute)
	if got := visitorValue(t, a, v, "k"); got != "v" {
		t.Fatalf("visitor's value after 20 minutes: %q", got)
	}
	a.clock.Advance(httpauth.DefaultAnonymousIdleTimeout)
	if got := visitorValue(t, a, v, "k"); got != "" {
		t.Fatalf("visitor's value idle past the anonymous timeout: %q", got)
	}
}

// storeVisitor saves an application value in b's session, which stores a
// visitor's session for the first time.
func storeVisitor(t *testing.T, a *app, b *browser, key, value string) {
	t.Helper()
	r := httptest.NewRequest("GET", origin+"/", nil)
	r.AddCookie(&http.Cookie{Name: a.m.CookieName(), Value: b.cookie})
	s, err := a.m.Start(httptest.NewRecorder(), r)
	if err != nil {
		t.Fatal(err)
	}
	s.SetValue(key, value)
	if err := a.m.Save(r.Context(), s); err != nil {
		t.Fatal(err)
	}
}

func visitorValue(t *testing.T, a *app, b *browser, key string) string {
	t.Helper()
	r := httptest.NewRequest("GET", origin+"/", nil)
	r.AddCookie(&http.Cookie{Name: a.m.CookieName(), Value: b.cookie})
	s, err := a.m.Load(r)
	if err != nil {
		t.Fatal(err)
	}
	return s.Value(key)
}

func TestAbsoluteLifetime(t *testing.T) {
	a := memApp(t)
	b := &browser{t: t}
	b.signIn(a)
	start := a.clock.Now()
	for {
		a.clock.Advance(4 * time.Minute)
		res, _ := b.do(a, req{method: "GET", path: "/me"})
		if res.StatusCode == 200 {
			continue
		}
		if lived := a.clock.Now().Sub(start); lived < httpauth.DefaultMaxLifetime || lived > httpauth.DefaultMaxLifetime+4*time.Minute {
			t.Fatalf("an active session ended after %s, want %s", lived, httpauth.DefaultMaxLifetime)
		}
		return
	}
}

// A first factor waits for the second only so long.
func TestPendingTimeout(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	m, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: origin, Clock: clock, PendingTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, m, clock)
	b := &browser{t: t}
	b.do(a, req{method: "GET", path: "/login"})
	b.do(a, req{method: "POST", path: "/password", form: url.Values{"user": {"alice"}, "password": {"correct horse"}}})
	clock.Advance(2 * time.Minute)
	res, st := b.do(a, req{method: "POST", path: "/totp", form: url.Values{}})
	if res.StatusCode != http.StatusForbidden || st.Level != "" {
		t.Fatalf("second factor after the first expired: %d %+v", res.StatusCode, st)
	}
}

func TestBodyLimit(t *testing.T) {
	a := memApp(t)
	b := &browser{t: t}
	b.do(a, req{method: "GET", path: "/login"})
	big := strings.Repeat("x", httpauth.DefaultMaxBodyBytes+1)
	tok := map[string]string{httpauth.CSRFHeader: b.csrf}

	// Declared too large: refused before the handler.
	ran := a.ran
	res, st := b.do(a, req{method: "POST", path: "/echo", body: strings.NewReader(big), header: tok})
	if res.StatusCode != http.StatusRequestEntityTooLarge || a.ran != ran || st.Error == "" {
		t.Fatalf("oversized body: %d %+v", res.StatusCode, st)
	}
	// Undeclared (chunked): the handler's read fails, and WriteError says 413.
	res, _ = b.do(a, req{method: "POST", path: "/echo", body: strings.NewReader(big), header: tok, chunked: true})
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized chunked body: %d", res.StatusCode)
	}
	// The token in an oversized form: refused while looking for it.
	form := url.Values{"pad": {big}}
	ran = a.ran
	res, _ = b.do(a, req{method: "POST", path: "/password", form: form, chunked: true})
	if res.StatusCode != http.StatusRequestEntityTooLarge || a.ran != ran {
		t.Fatalf("oversized form: %d", res.StatusCode)
	}
	// Within the limit, all is well.
	res, _ = b.do(a, req{method: "POST", path: "/echo", body: strings.NewReader("small"), header: tok})
	if res.StatusCode != 200 {
		t.Fatalf("small body: %d", res.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	a := memApp(t)
	b := &browser{t: t}
	b.signIn(a)
	was := b.cookie
	res, _ := b.do(a, req{method: "POST", path: "/logout", form: url.Values{}})
	if res.StatusCode != 200 || b.cookie != "" {
		t.Fatalf("logout: %d, cookie %q", res.StatusCode, b.cookie)
	}
	spy := &browser{t: t, cookie: was}
	if res, _ := spy.do(a, req{method: "GET", path: "/me"}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the logged-out ID still works: %d", res.StatusCode)
	}
}

// Two server instances over one store are one site: a login begun on one
// finishes on the other, and its session is valid on both, until a logout
// on either.
func TestTwoInstances(t *testing.T) {
	run := func(t *testing.T, one, two identity.SessionStore) {
		clock := identitytest.NewClock(identitytest.Epoch())
		a1 := newApp(t, newManager(t, one, clock), clock)
		a2 := newApp(t, newManager(t, two, clock), clock)
		b := &browser{t: t}
		b.do(a1, req{method: "GET", path: "/login"})
		if res, st := b.do(a2, req{method: "POST", path: "/password", form: url.Values{"user": {"alice"}, "password": {"correct horse"}}}); res.StatusCode != 200 {
			t.Fatalf("password on instance 2: %d %+v", res.StatusCode, st)
		}
		if res, st := b.do(a1, req{method: "POST", path: "/totp", form: url.Values{}}); res.StatusCode != 200 || st.Level != identity.Level2.String() {
			t.Fatalf("second factor on instance 1: %d %+v", res.StatusCode, st)
		}
		for i, a := range []*app{a1, a2} {
			if res, st := b.do(a, req{method: "GET", path: "/me"}); res.StatusCode != 200 || st.Subject != "alice" || st.Level != identity.Level2.String() {
				t.Fatalf("instance %d: %d %+v", i+1, res.StatusCode, st)
			}
		}
		was := b.cookie
		b.do(a2, req{method: "POST", path: "/logout", form: url.Values{}})
		spy := &browser{t: t, cookie: was}
		if res, _ := spy.do(a1, req{method: "GET", path: "/me"}); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("logged out on instance 2, still valid on 1: %d", res.StatusCode)
		}
	}
	t.Run("memstore", func(t *testing.T) {
		s := memstore.New()
		run(t, s, s)
	})
	t.Run("SQLite", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "puce.db")
		run(t, sqlstoretest.SQLiteAt(t, p), sqlstoretest.SQLiteAt(t, p))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		one, second := sqlstoretest.Postgres(t)
		run(t, one, second())
	})
}

// The store keeps the hash of the cookie's token, never the token: a dump
// of the database gives no cookie to present.
func TestNoCookieAtRest(t *testing.T) {
	p := filepath.Join(t.TempDir(), "puce.db")
	store := sqlstoretest.SQLiteAt(t, p)
	clock := identitytest.NewClock(identitytest.Epoch())
	a := newApp(t, newManager(t, store, clock), clock)
	b := &browser{t: t}
	b.signIn(a)
	raw, err := base64.RawURLEncoding.DecodeString(b.cookie)
	if err != nil {
		t.Fatal(err)
	}
	var dump []byte
	for _, suffix := range []string{"", "-wal"} {
		d, err := os.ReadFile(p + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		dump = append(dump, d...)
	}
	id := identity.SessionIDOf(raw)
	if !bytes.Contains(dump, id[:]) {
		t.Fatal("the dump does not hold the session's ID: the search proves nothing")
	}
	if bytes.Contains(dump, raw) || bytes.Contains(dump, []byte(b.cookie)) || bytes.Contains(dump, []byte(b.csrf)) {
		t.Fatal("the database holds the cookie's token or the CSRF token")
	}
}

// Two requests that change one session's level at once: one wins, the
// other is refused, and the session is not forked into two live IDs.
func TestConcurrentRenewal(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	store := memstore.New()
	m := newManager(t, store, clock)
	a := newApp(t, m, clock)
	b := &browser{t: t}
	b.do(a, req{method: "GET", path: "/login"})
	storeVisitor(t, a, b, "k", "v") // a stored session, for the renewals to race on
	r := func() *http.Request {
		r, _ := http.NewRequest("GET", origin+"/", nil)
		r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: b.cookie})
		return r
	}
	s1, err1 := m.Load(r())
	s2, err2 := m.Load(r())
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	p := identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: clock.Now()}
	ctx := context.Background()
	w1, w2 := &headerRecorder{h: http.Header{}}, &headerRecorder{h: http.Header{}}
	_, e1 := m.AddProof(ctx, w1, s1, p)
	_, e2 := m.AddProof(ctx, w2, s2, p)
	// The loser finds the old ID gone: a renewal deletes it first.
	if !identityIs(e1, identity.ErrStepUpRequired) || !identityIs(e2, identity.ErrNoSession) {
		t.Fatalf("first renewal: %v; second: %v (want step-up needed, then no session)", e1, e2)
	}
	if len(w2.h.Values("Set-Cookie")) != 0 {
		t.Fatal("the refused renewal set a cookie")
	}
	// One stale version and a renewal race the same way: an update built on
	// the version before the winner's renewal cannot land either.
	s2.SetValue("k", "v")
	if err := m.Save(ctx, s2); !identityIs(err, identity.ErrNoSession) {
		t.Fatalf("saving the renewed-away session: %v", err)
	}
}

// Expired sessions leave the store: a flood of visitors who never come
// back does not grow it for good.
func TestPurge(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	store := memstore.New()
	a := newApp(t, newManager(t, store, clock), clock)
	var gone []*browser
	for range 5 {
		b := &browser{t: t}
		b.do(a, req{method: "GET", path: "/login"})
		storeVisitor(t, a, b, "k", "v")
		gone = append(gone, b)
	}
	clock.Advance(httpauth.DefaultAnonymousIdleTimeout + time.Second)
	// A new session's first row purges the others.
	last := &browser{t: t}
	last.do(a, req{method: "GET", path: "/login"})
	storeVisitor(t, a, last, "k", "v")
	for _, b := range gone {
		id := identity.SessionIDOf(mustDecode(t, strings.TrimSuffix(b.cookie, "~")))
		if err := store.DeleteSession(context.Background(), id, 0); !identityIs(err, identity.ErrNoSession) {
			t.Fatalf("an expired session is still stored: %v", err)
		}
	}
	if n, err := a.m.Purge(context.Background()); err != nil || n != 0 {
		t.Fatalf("Purge after the automatic one: %d, %v", n, err)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Step-up: a logged-in session adds a fresh proof (renewed again), and
// Authorize follows the policy's rules.
func TestStepUpAndAuthorize(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	m, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: origin, Clock: clock, Logger: quiet,
		Policy: &identity.Policy{Clock: clock, Actions: map[string]identity.StepUp{"pay": {Level: identity.Level3, MaxAge: time.Minute}}}})
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, m, clock)
	b := &browser{t: t}
	b.do(a, req{method: "GET", path: "/login"})
	storeVisitor(t, a, b, "k", "v") // a stored session, for the renewals to race on
	r := func() *http.Request {
		r, _ := http.NewRequest("GET", origin+"/", nil)
		r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: b.cookie})
		return r
	}
	anon, err := m.Load(r())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Authorize(anon, "view"); !identityIs(err, identity.ErrStepUpRequired) {
		t.Fatalf("anonymous session authorized: %v", err)
	}
	b.signIn(a)
	s, err := m.Load(r())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Authorize(s, "view"); err != nil {
		t.Fatalf("signed-in session, plain action: %v", err)
	}
	if err := m.Authorize(s, "pay"); !identityIs(err, identity.ErrStepUpRequired) {
		t.Fatalf("AAL2 session may pay: %v", err)
	}
	card := identity.Proof{Subject: "alice", Kind: identity.KindCard, Factors: identity.Possession | identity.Knowledge, Assurance: identity.Level3, Time: clock.Now()}
	w := &headerRecorder{h: http.Header{}}
	before := b.cookie
	login, err := m.AddProof(context.Background(), w, s, card)
	if err != nil || login.Level != identity.Level3 || len(w.h.Values("Set-Cookie")) != 1 || strings.Contains(w.h.Get("Set-Cookie"), before) {
		t.Fatalf("step-up: %+v, %v, cookies %v", login, err, w.h.Values("Set-Cookie"))
	}
	if err := m.Authorize(s, "pay"); err != nil {
		t.Fatalf("after a card step-up: %v", err)
	}
	clock.Advance(2 * time.Minute)
	if err := m.Authorize(s, "pay"); !identityIs(err, identity.ErrStepUpRequired) {
		t.Fatalf("a stale step-up still pays: %v", err)
	}
	mallory := card
	mallory.Subject = "mallory"
	if _, err := m.AddProof(context.Background(), w, s, mallory); !identityIs(err, identity.ErrInvalidResponse) {
		t.Fatalf("another subject's proof joined the login: %v", err)
	}
}

// An application's page that needs a login answers Authorize's error with
// WriteError. A visitor who has not signed in is told to sign in, not to
// confirm with a second factor they were never asked for; the error still
// matches ErrStepUpRequired and is a *StepUpError, for callers that branch.
func TestAuthorizeTellsVisitorToSignIn(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	m, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: origin, Clock: clock, Logger: quiet,
		Policy: &identity.Policy{Clock: clock, Actions: map[string]identity.StepUp{"pay": {Level: identity.Level3}}}})
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, m, clock)
	b := &browser{t: t}
	b.do(a, req{method: "GET", path: "/login"})
	storeVisitor(t, a, b, "k", "v")
	load := func() *httpauth.Session {
		r, _ := http.NewRequest("GET", origin+"/", nil)
		r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: b.cookie})
		s, err := m.Load(r)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	visitor := m.Authorize(load(), "pay")
	var need *identity.StepUpError
	if !errors.As(visitor, &need) || need.Need != identity.Level2 || !identityIs(visitor, identity.ErrStepUpRequired) {
		t.Fatalf("visitor: %v", visitor)
	}
	b.signIn(a)
	stepUp := m.Authorize(load(), "pay")
	if !identityIs(stepUp, identity.ErrStepUpRequired) {
		t.Fatalf("AAL2 session may pay: %v", stepUp)
	}
	vs, vmsg := httpauth.Public(visitor)
	ss, smsg := httpauth.Public(stepUp)
	if vs != http.StatusForbidden || ss != http.StatusForbidden {
		t.Errorf("statuses %d and %d, want 403 for both (openapi.json)", vs, ss)
	}
	if vmsg == smsg || !strings.Contains(vmsg, "sign in") {
		t.Errorf("a visitor who never signed in reads %q; a signed-in user asked to step up reads %q", vmsg, smsg)
	}
}

// Application values travel with the session to every instance; of two
// writes built on one read, the second is refused.
func TestValues(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	store := memstore.New()
	m1, m2 := newManager(t, store, clock), newManager(t, store, clock)
	a := newApp(t, m1, clock)
	b := &browser{t: t}
	b.signIn(a)
	r := func() *http.Request {
		r, _ := http.NewRequest("GET", origin+"/", nil)
		r.AddCookie(&http.Cookie{Name: m1.CookieName(), Value: b.cookie})
		return r
	}
	s1, _ := m1.Load(r())
	s2, _ := m2.Load(r())
	s1.SetValue("document", "d-42")
	if err := m1.Save(context.Background(), s1); err != nil {
		t.Fatal(err)
	}
	s2.SetValue("document", "d-43")
	if err := m2.Save(context.Background(), s2); !identityIs(err, identity.ErrChanged) {
		t.Fatalf("a write built on an old read: %v", err)
	}
	s3, err := m2.Load(r())
	if err != nil || s3.Value("document") != "d-42" || s3.Subject() != "alice" {
		t.Fatalf("on the other instance: %v %q", err, s3.Value("document"))
	}
}

// Development mode serves plain HTTP on localhost: a cookie without the
// prefix and Secure flag, and the same checks on unsafe requests.
func TestDevelopmentMode(t *testing.T) {
	const dev = "http://localhost:8080"
	m, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: dev, Development: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Start(w, r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		w.Write([]byte(s.CSRFToken()))
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", dev+"/", nil))
	c := w.Result().Cookies()[0]
	if c.Name != "puce_session" || c.Secure || !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("development cookie %+v", c)
	}
	post := func(origin string) int {
		r := httptest.NewRequest("POST", dev+"/", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set(httpauth.CSRFHeader, w.Body.String())
		r.AddCookie(c)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	if got := post(dev); got != 200 {
		t.Fatalf("same-origin POST in development: %d", got)
	}
	if got := post("http://localhost:9999"); got != http.StatusForbidden {
		t.Fatalf("POST from another local port: %d", got)
	}
}

// staleOnce hands out one old copy of a session, as a read that raced a
// parallel request's write would see.
type staleOnce struct {
	identity.SessionStore
	stale *identity.SessionRecord
}

func (s *staleOnce) Session(ctx context.Context, id identity.SessionID, now time.Time) (*identity.SessionRecord, error) {
	if r := s.stale; r != nil && r.ID == id {
		s.stale = nil
		return r, nil
	}
	return s.SessionStore.Session(ctx, id, now)
}

// Two requests of one browser move the idle deadline at once: the one that
// loses the write goes on with the winner's version, so its own later write
// is not refused for nothing.
func TestParallelTouch(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	mem := memstore.New()
	store := &staleOnce{SessionStore: mem}
	m := newManager(t, store, clock)
	a := newApp(t, m, clock)
	b := &browser{t: t}
	b.signIn(a)
	id := identity.SessionIDOf(mustDecode(t, b.cookie))
	old, err := mem.Session(context.Background(), id, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if res, _ := b.do(a, req{method: "GET", path: "/me"}); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	store.stale = old // the second request read before the first wrote
	clock.Advance(time.Second)
	r, _ := http.NewRequest("GET", origin+"/", nil)
	r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: b.cookie})
	s, err := m.Load(r)
	if err != nil {
		t.Fatalf("load that lost the touch: %v", err)
	}
	s.SetValue("k", "v")
	if err := m.Save(context.Background(), s); err != nil {
		t.Fatalf("save after a lost touch: %v", err)
	}
}
