package httpauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// BenchmarkSessionLoad measures what every request of a signed-in user
// pays — finding its session from the cookie — beside the anchor of a bare
// credential load from the same store in the same run. "touch" moves the
// clock past the write threshold each time, so every load also writes the
// new idle deadline (the worst case; a page's burst writes once).
func BenchmarkSessionLoad(b *testing.B) {
	stores := map[string]func(b *testing.B) identity.Store{
		"memstore": func(*testing.B) identity.Store { return memstore.New() },
		"SQLite":   func(b *testing.B) identity.Store { return sqlstoretest.SQLite(b) },
		"PostgreSQL": func(b *testing.B) identity.Store {
			s, _ := sqlstoretest.Postgres(b)
			return s
		},
	}
	for _, name := range []string{"memstore", "SQLite", "PostgreSQL"} {
		b.Run(name, func(b *testing.B) {
			store := stores[name](b)
			clock := identitytest.NewClock(identitytest.Epoch())
			m := newManager(b, store, clock)
			a := newApp(b, m, clock)
			br := &browser{t: b}
			br.signIn(a)
			r, _ := http.NewRequest("GET", origin+"/", nil)
			r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: br.cookie})
			ctx := context.Background()
			cred := &identity.Credential{Subject: "alice", Kind: identity.KindTOTP, ID: "c1", Secret: make([]byte, 48),
				Public: []byte(url.Values{"digits": {"6"}}.Encode()), Active: true, CreatedAt: clock.Now()}
			if err := store.CreateCredential(ctx, cred); err != nil {
				b.Fatal(err)
			}
			b.Run("anchor=credential", func(b *testing.B) {
				for b.Loop() {
					if _, err := store.Credential(ctx, cred.Ref()); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("load", func(b *testing.B) {
				for b.Loop() {
					if _, err := m.Load(r); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("touch", func(b *testing.B) {
				for b.Loop() {
					clock.Advance(20 * time.Second)
					if _, err := m.Load(r); err != nil {
						b.Fatal(err)
					}
					if clock.Now().Sub(identitytest.Epoch()) > 11*time.Hour {
						b.StopTimer()
						clock.Set(identitytest.Epoch())
						br = &browser{t: b}
						br.signIn(a)
						r, _ = http.NewRequest("GET", origin+"/", nil)
						r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: br.cookie})
						b.StartTimer()
					}
				}
			})
		})
	}
}

// BenchmarkBeginStartLimit measures what the start limit adds to a
// ceremony start: a TOTP login's begin through the endpoints (session from
// the cookie, a challenge stored, the answer encoded) with the limit off —
// the anchor — and on, counted for 4096 client addresses in turn (a map
// lookup under one mutex). memstore, so that no round trip hides the cost.
func BenchmarkBeginStartLimit(b *testing.B) {
	for _, c := range []struct {
		name  string
		limit httpauth.StartLimit
	}{
		{"anchor=off", httpauth.StartLimit{PerMinute: -1, AnonymousPerMinute: -1}},
		{"on", httpauth.StartLimit{PerMinute: 60, Burst: 1 << 30, AnonymousPerMinute: 60, AnonymousBurst: 1 << 30}},
	} {
		b.Run(c.name, func(b *testing.B) {
			sh := newShared(memstore.New())
			s := newSite(b, sh, func(m *httpauth.Config, _ *httpauth.EndpointsConfig) { m.Starts = c.limit })
			s.signUpPassword(b, "alice")
			s.enrollTOTP(b, "alice")
			cl := &client{t: b}
			cl.must(s, 200, "GET", "/auth/session", nil, nil)
			cl.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
			i := 0
			for b.Loop() {
				cl.remote = fmt.Sprintf("10.%d.%d.1:1", i>>8&15, i&255)
				cl.seen = cl.seen[:0]
				cl.must(s, 200, "POST", "/auth/login/totp/begin", nil, nil)
				i++
			}
		})
	}
	// The limiter alone, for the same 4096 addresses: what "on" adds.
	b.Run("AllowStart", func(b *testing.B) {
		sh := newShared(memstore.New())
		s := newSite(b, sh, func(m *httpauth.Config, _ *httpauth.EndpointsConfig) {
			m.Starts = httpauth.StartLimit{PerMinute: 60, Burst: 1 << 30, AnonymousPerMinute: 60, AnonymousBurst: 1 << 30}
		})
		rs := make([]*http.Request, 4096)
		for i := range rs {
			rs[i], _ = http.NewRequest("POST", origin+"/auth/login/totp/begin", nil)
			rs[i].RemoteAddr = fmt.Sprintf("10.%d.%d.1:1", i>>8&15, i&255)
		}
		i := 0
		for b.Loop() {
			if err := s.m.AllowStart(rs[i&4095], nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkPasswordStepUnknownUser compares the password step's refusal
// of an account that does not exist with that of a wrong password for one
// that does (the anchor): the same answer, and as near the same time as
// the hash makes it (identity.Passwords burns a hash for an unknown
// account), so that timing does not tell who has an account (OWASP ASVS
// 5.0 V6.3.8). The throttle is off here, or the repeated failures would be
// refused before any hash; the start limit too.
func BenchmarkPasswordStepUnknownUser(b *testing.B) {
	sh := newShared(memstore.New())
	s := newSite(b, sh, func(m *httpauth.Config, e *httpauth.EndpointsConfig) {
		m.Starts = httpauth.StartLimit{PerMinute: -1, AnonymousPerMinute: -1}
		p := e.Passwords
		e.Passwords = &identity.Passwords{Store: p.Store, Audit: p.Audit, Clock: p.Clock, Params: p.Params}
	})
	s.signUpPassword(b, "alice")
	for _, c := range []struct{ name, user string }{{"anchor=wrong-password", "alice"}, {"unknown-account", "nobody"}} {
		b.Run(c.name, func(b *testing.B) {
			cl := &client{t: b}
			cl.must(s, 200, "GET", "/auth/session", nil, nil)
			body := map[string]string{"username": c.user, "password": "not the password"}
			for b.Loop() {
				cl.seen = cl.seen[:0]
				cl.must(s, 401, "POST", "/auth/password", body, nil)
			}
		})
	}
}
