package httpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
)

func withStarts(l httpauth.StartLimit, proxies ...string) siteOption {
	return func(c *httpauth.Config, _ *httpauth.EndpointsConfig) {
		c.Starts = l
		for _, p := range proxies {
			c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
		}
	}
}

// rows counts (and deletes) every session and challenge row the store
// holds: a purge with a cut far in the future takes them all.
func rows(t *testing.T, sh *shared) (sessions, challenges int64) {
	t.Helper()
	far := sh.clock.Now().Add(1000 * time.Hour)
	sessions, err := sh.store.PurgeSessions(context.Background(), far)
	if err != nil {
		t.Fatal(err)
	}
	if challenges, err = sh.store.PurgeChallenges(context.Background(), far); err != nil {
		t.Fatal(err)
	}
	return sessions, challenges
}

// anonymousBegin is a bot's request: a fresh visitor's cookie, then a
// passkey login's options, which store a challenge and the session that
// binds it.
func anonymousBegin(t *testing.T, s *site, remote string, header map[string]string) (int, string, []byte) {
	t.Helper()
	c := &client{t: t, remote: remote, header: header}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	status, h, body := c.call(s, "POST", "/auth/login/webauthn/begin", nil)
	return status, h.Get("Retry-After"), body
}

// An anonymous client that starts ceremony after ceremony, each with a
// new cookie, is refused with 429 and Retry-After once its address's
// burst is spent; what it made in the store stops growing there.
func TestStartsLimitedPerAddress(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh, withStarts(httpauth.StartLimit{PerMinute: 6, Burst: 3}))
	var ok, limited int
	for range 20 {
		status, retry, body := anonymousBegin(t, s, "198.51.100.7:5000", nil)
		switch status {
		case 200:
			ok++
		case 429:
			limited++
			// 6 a minute: one start comes back every 10 seconds.
			if retry != "10" {
				t.Fatalf("Retry-After %q, want 10", retry)
			}
			var e errorAnswer
			if json.Unmarshal(body, &e) != nil || e.Error != "Too many requests. Please wait a moment, then try again." {
				t.Fatalf("429 body %s", body)
			}
		default:
			t.Fatalf("begin: %d %s", status, body)
		}
	}
	if ok != 3 || limited != 17 {
		t.Fatalf("%d started, %d refused; want 3 and 17", ok, limited)
	}
	if log := s.log.take(); !strings.Contains(log, "too many ceremony starts from client 198.51.100.7") {
		t.Fatalf("the log does not name the address: %s", log)
	}
	// Another address is not held back by this one.
	if status, _, body := anonymousBegin(t, s, "198.51.100.8:5000", nil); status != 200 {
		t.Fatalf("another address: %d %s", status, body)
	}
	// The wait the answer named is enough.
	sh.clock.Advance(10 * time.Second)
	if status, _, body := anonymousBegin(t, s, "198.51.100.7:5000", nil); status != 200 {
		t.Fatalf("after Retry-After: %d %s", status, body)
	}
	// An IPv6 client counts by its /64: a new address per request buys
	// nothing.
	for i := range 4 {
		status, _, _ := anonymousBegin(t, s, "[2001:db8:1:2::"+string(rune('a'+i))+"]:5000", nil)
		if want := map[bool]int{true: 200, false: 429}[i < 3]; status != want {
			t.Fatalf("IPv6 request %d: %d, want %d", i, status, want)
		}
	}
	if sess, ch := rows(t, sh); sess != 8 || ch != 8 {
		t.Fatalf("%d sessions and %d challenges stored, want 8 each (3+1+1+3 started)", sess, ch)
	}
}

// Starts are counted for signed-up users too: an attacker with an account
// of their own (sign-up is open) cannot store challenge after challenge
// in its name. The password step is a start as well.
func TestStartsLimitedWithSubject(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh)
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	c.must(s, 200, "POST", "/auth/signup", map[string]string{"username": "mallory", "password": "correct horse battery"}, nil)
	var ok int
	for range 100 {
		status, _, body := c.call(s, "POST", "/auth/enroll/totp/begin", nil)
		switch status {
		case 200:
			ok++
		case 429:
		default:
			t.Fatalf("enrol begin: %d %s", status, body)
		}
	}
	if ok != httpauth.DefaultStartBurst-1 {
		t.Fatalf("%d enrolments begun, want %d (the burst, less the sign-up)", ok, httpauth.DefaultStartBurst-1)
	}
}

// Behind the site's own proxies each client has its own allowance, read
// from the header the proxies append to; a client cannot pick its address
// by writing the header itself, through the proxy or around it.
func TestStartsBehindTrustedProxy(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh, withStarts(httpauth.StartLimit{PerMinute: 6, Burst: 2}, "10.0.0.0/8", "2001:db8:ffff::/48"))
	const proxy = "10.1.2.3:443"
	xff := func(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }
	for i := range 12 {
		status, _, _ := anonymousBegin(t, s, proxy, xff("198.51.100.1"))
		if want := map[bool]int{true: 200, false: 429}[i < 2]; status != want {
			t.Fatalf("client A's start %d: %d, want %d", i, status, want)
		}
	}
	// Client B comes through the same proxy: its own allowance.
	if status, _, body := anonymousBegin(t, s, proxy, xff("198.51.100.2")); status != 200 {
		t.Fatalf("client B through the proxy: %d %s", status, body)
	}
	// A forges an address to the left of the one the proxy appended.
	if status, _, _ := anonymousBegin(t, s, proxy, xff("203.0.113.9, 198.51.100.1")); status != 429 {
		t.Fatalf("a forged leftmost X-Forwarded-For: %d, want 429", status)
	}
	// Two proxies of ours in a row: the client is left of both.
	if status, _, _ := anonymousBegin(t, s, proxy, xff("198.51.100.1, 10.9.9.9")); status != 429 {
		t.Fatalf("client A behind two proxies: %d, want 429", status)
	}
	// Around the proxy: the header counts for nothing.
	for i := range 4 {
		status, _, _ := anonymousBegin(t, s, "192.0.2.50:6000", xff(fmt.Sprintf("198.51.100.%d", 10+i)))
		if want := map[bool]int{true: 200, false: 429}[i < 2]; status != want {
			t.Fatalf("direct request %d with its own header: %d, want %d", i, status, want)
		}
	}
	// The audit trail records the client, not the proxy.
	c := &client{t: t, remote: "[2001:db8:ffff::1]:443", header: xff("198.51.100.3")}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	c.must(s, 200, "POST", "/auth/signup", map[string]string{"username": "carol", "password": "correct horse battery"}, nil)
	if ev := lastEvent(t, sh.store, "carol"); ev.RemoteAddr != "198.51.100.3" {
		t.Fatalf("audited address %q, want the client's 198.51.100.3", ev.RemoteAddr)
	}
}

// Many addresses, each under its own bound, still meet the instance's
// bound on anonymous starts; a user who has proven a factor does not.
func TestStartsAnonymousBoundPerInstance(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh, withStarts(httpauth.StartLimit{AnonymousPerMinute: 60, AnonymousBurst: 5}))
	s.signUpPassword(t, "alice")
	alice := &client{t: t, remote: "192.0.2.200:1"}
	alice.must(s, 200, "GET", "/auth/session", nil, nil)
	alice.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
	var ok, limited int
	for i := range 8 {
		status, retry, body := anonymousBegin(t, s, fmt.Sprintf("198.51.100.%d:1", i), nil)
		switch {
		case status == 200:
			ok++
		case status == 429 && retry == "1":
			limited++
		default:
			t.Fatalf("begin from address %d: %d %q %s", i, status, retry, body)
		}
	}
	if ok != 4 || limited != 4 {
		// alice's password step was one of the five.
		t.Fatalf("%d started, %d refused; want 4 and 4", ok, limited)
	}
	alice.must(s, 200, "POST", "/auth/enroll/totp/begin", nil, nil)
}

// A negative rate switches a bound off.
func TestStartsOff(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh, withStarts(httpauth.StartLimit{PerMinute: -1, AnonymousPerMinute: -1}))
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	c.must(s, 200, "POST", "/auth/signup", map[string]string{"username": "dave", "password": "correct horse battery"}, nil)
	for range 100 {
		c.must(s, 200, "POST", "/auth/enroll/totp/begin", nil, nil)
	}
}

// AllowStart is the same bound for an application's own handlers; its
// error is typed and says when to retry.
func TestAllowStart(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh, withStarts(httpauth.StartLimit{PerMinute: 60, Burst: 1}))
	r := httptest.NewRequest("POST", origin+"/app/begin", nil)
	if err := s.m.AllowStart(r, nil); err != nil {
		t.Fatal(err)
	}
	err := s.m.AllowStart(r, nil)
	var rl *httpauth.RateLimitError
	if !errors.Is(err, httpauth.ErrRateLimited) || !errors.As(err, &rl) || rl.RetryAfter != time.Second || rl.Global {
		t.Fatalf("second start: %v", err)
	}
	if status, _ := httpauth.Public(err); status != 429 || httpauth.RetryAfter(err) != time.Second {
		t.Fatalf("Public %d, RetryAfter %v", status, httpauth.RetryAfter(err))
	}
}

// New refuses a trusted proxy that is no prefix.
func TestTrustedProxiesChecked(t *testing.T) {
	_, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: origin, TrustedProxies: []netip.Prefix{{}}})
	if !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("New with a zero prefix: %v", err)
	}
}

// ClientAddr reads the proxies' header from the right, for the site's
// own proxies only.
func TestClientAddr(t *testing.T) {
	m, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: origin,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}})
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: origin, ClientIPHeader: "Forwarded",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	plain := newManager(t, memstore.New(), nil)
	for _, c := range []struct {
		m      *httpauth.Manager
		peer   string
		header []string
		want   string
	}{
		{plain, "10.0.0.1:1", []string{"198.51.100.1"}, "10.0.0.1"},
		{m, "192.0.2.1:1", []string{"198.51.100.1"}, "192.0.2.1"},
		{m, "10.0.0.1:1", nil, "10.0.0.1"},
		{m, "10.0.0.1:1", []string{"198.51.100.1"}, "198.51.100.1"},
		{m, "10.0.0.1:1", []string{"203.0.113.1, 198.51.100.1"}, "198.51.100.1"},
		{m, "10.0.0.1:1", []string{"203.0.113.1", "198.51.100.1, 10.2.2.2"}, "198.51.100.1"},
		{m, "10.0.0.1:1", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{m, "10.0.0.1:1", []string{"198.51.100.1, garbage, 10.2.2.2"}, "10.2.2.2"},
		{m, "10.0.0.1:1", []string{"[2001:db8::5]:443"}, "2001:db8::5"},
		{m, "[::ffff:10.0.0.1]:1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{m, "[2001:db8:ffff::9]:1", []string{"198.51.100.1"}, "198.51.100.1"},
		{fwd, "10.0.0.1:1", []string{`for=203.0.113.1, for="[2001:db8::7]:80";proto=https`}, "2001:db8::7"},
		{fwd, "10.0.0.1:1", []string{"for=198.51.100.1;by=10.0.0.1", "For=unknown"}, "10.0.0.1"},
		{fwd, "10.0.0.1:1", []string{"proto=https"}, "10.0.0.1"},
	} {
		r := httptest.NewRequest("GET", origin+"/", nil)
		r.RemoteAddr = c.peer
		h := "X-Forwarded-For"
		if c.m == fwd {
			h = "Forwarded"
		}
		for _, v := range c.header {
			r.Header.Add(h, v)
		}
		if got := c.m.ClientAddr(r); got != c.want {
			t.Errorf("peer %s, %s %q: %q, want %q", c.peer, h, c.header, got, c.want)
		}
	}
}

// FuzzClientAddr: whatever a proxy's header holds, ClientAddr answers an
// address, or the peer itself, and does not panic.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"198.51.100.1", "203.0.113.1, 198.51.100.1", "[2001:db8::5]:443", `for="[2001:db8::7]:80";proto=https, for=unknown`, ",,", "\x00", ";for=;"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	ms := map[bool]*httpauth.Manager{}
	for _, forwarded := range []bool{false, true} {
		h := "X-Forwarded-For"
		if forwarded {
			h = "Forwarded"
		}
		m, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: origin, ClientIPHeader: h,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		if err != nil {
			f.Fatal(err)
		}
		ms[forwarded] = m
	}
	f.Fuzz(func(t *testing.T, v string, forwarded bool) {
		r := httptest.NewRequest("GET", origin+"/", nil)
		r.RemoteAddr = "10.0.0.1:1"
		r.Header["X-Forwarded-For"] = []string{v}
		r.Header["Forwarded"] = []string{v}
		got := ms[forwarded].ClientAddr(r)
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("%q gave %q, not an address", v, got)
		}
	})
}

// A ceremony nobody finishes leaves rows: its challenge, and the
// visitor's session that binds it. The session ends with the ceremony
// (Config.PendingTimeout, the challenge's lifetime by default), not after
// the 30 minutes a visitor's own values are kept, so what a bot leaves
// behind is purged as soon as its challenges are; the visitor's cookie
// then works as before.
func TestAbandonedCeremonyRowsExpire(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh)
	c := &client{t: t}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	for range 3 {
		c.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, nil)
	}
	for range 2 {
		anonymousBegin(t, s, "198.51.100.20:1", nil)
	}
	sh.clock.Advance(httpauth.DefaultPendingTimeout + time.Second)
	n, err := s.m.Purge(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("purged %d sessions (%v), want the 3 abandoned ceremonies'", n, err)
	}
	if sess, _ := rows(t, sh); sess != 0 {
		t.Fatalf("%d sessions left", sess)
	}
	// The same cookie and token begin again.
	c.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, nil)
}
