package httpauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// realStores runs f over memstore, SQLite and PostgreSQL (skipped without
// PUCE_POSTGRES_DSN, as sqlstoretest does).
func realStores(t *testing.T, f func(t *testing.T, store identity.Store)) {
	t.Run("memstore", func(t *testing.T) { f(t, memstore.New()) })
	t.Run("SQLite", func(t *testing.T) { f(t, sqlstoretest.SQLiteAt(t, filepath.Join(t.TempDir(), "puce.db"))) })
	t.Run("PostgreSQL", func(t *testing.T) {
		s, _ := sqlstoretest.Postgres(t)
		f(t, s)
	})
}

func auditedApp(t *testing.T, store identity.Store) *app {
	clock := identitytest.NewClock(identitytest.Epoch())
	m, err := httpauth.New(httpauth.Config{Store: store, Origin: origin, Clock: clock, Logger: quiet, Audit: store})
	if err != nil {
		t.Fatal(err)
	}
	return newApp(t, m, clock)
}

// signInAs is browser.signIn for any user.
func signInAs(t *testing.T, a *app, user string) *browser {
	t.Helper()
	b := &browser{t: t}
	b.do(a, req{method: "GET", path: "/login"})
	if res, _ := b.do(a, req{method: "POST", path: "/password", form: url.Values{"user": {user}, "password": {"correct horse"}}}); res.StatusCode != 200 {
		t.Fatalf("password step: %d", res.StatusCode)
	}
	if res, st := b.do(a, req{method: "POST", path: "/totp", form: url.Values{}}); res.StatusCode != 200 || st.Subject != user {
		t.Fatalf("second factor step: %d %+v", res.StatusCode, st)
	}
	return b
}

func wantSignedIn(t *testing.T, a *app, b *browser, who string, want bool) {
	t.Helper()
	res, st := b.do(a, req{method: "GET", path: "/me"})
	switch {
	case want && (res.StatusCode != 200 || st.Subject != who):
		t.Fatalf("%s's browser: %d %+v, want signed in", who, res.StatusCode, st)
	case !want && res.StatusCode != 401:
		t.Fatalf("%s's browser: %d %+v, want 401 (signed out)", who, res.StatusCode, st)
	}
}

func lastEvent(t *testing.T, store identity.Store, subject identity.Subject) identity.Event {
	t.Helper()
	recs, err := store.AuditEvents(context.Background(), subject, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit of %s: %v, %v", subject, recs, err)
	}
	return recs[0].Event
}

// EndSessions signs a user out on every browser, leaves other users
// signed in, and the audit trail says who did it and how many ended.
func TestEndSessions(t *testing.T) {
	realStores(t, func(t *testing.T, store identity.Store) {
		a := auditedApp(t, store)
		phone, laptop, bob := signInAs(t, a, "alice"), signInAs(t, a, "alice"), signInAs(t, a, "bob")
		n, err := a.m.EndSessions(context.Background(), "alice", "fraud team", "192.0.2.7")
		if err != nil || n != 2 {
			t.Fatalf("EndSessions: %d, %v; want 2 ended", n, err)
		}
		wantSignedIn(t, a, phone, "alice", false)
		wantSignedIn(t, a, laptop, "alice", false)
		wantSignedIn(t, a, bob, "bob", true)
		ev := lastEvent(t, store, "alice")
		if ev.Action != "end-sessions" || ev.Result != identity.Success || ev.RemoteAddr != "192.0.2.7" ||
			!strings.Contains(ev.Reason, "ended by fraud team") || !strings.Contains(ev.Reason, "2 session(s)") {
			t.Fatalf("audit event %+v", ev)
		}
		// The ended cookie starts over as a visitor; a new sign-in works.
		wantSignedIn(t, a, signInAs(t, a, "alice"), "alice", true)
		if _, err := a.m.EndSessions(context.Background(), "", "support", ""); !errors.Is(err, identity.ErrBadInput) {
			t.Fatalf("EndSessions of the empty subject: %v, want ErrBadInput", err)
		}
	})
}

// EndOtherSessions, after a password change or a factor removal, signs
// out every other browser of the user and keeps the one that made the
// change.
func TestEndOtherSessions(t *testing.T) {
	realStores(t, func(t *testing.T, store identity.Store) {
		a := auditedApp(t, store)
		phone, laptop, bob := signInAs(t, a, "alice"), signInAs(t, a, "alice"), signInAs(t, a, "bob")
		r := httptest.NewRequest("GET", origin+"/account", nil)
		r.AddCookie(&http.Cookie{Name: a.m.CookieName(), Value: laptop.cookie})
		s, err := a.m.Load(r)
		if err != nil {
			t.Fatal(err)
		}
		n, err := a.m.EndOtherSessions(context.Background(), s, "password changed", "192.0.2.8")
		if err != nil || n != 1 {
			t.Fatalf("EndOtherSessions: %d, %v; want 1 ended", n, err)
		}
		wantSignedIn(t, a, laptop, "alice", true)
		wantSignedIn(t, a, phone, "alice", false)
		wantSignedIn(t, a, bob, "bob", true)
		if ev := lastEvent(t, store, "alice"); ev.Action != "end-sessions" || !strings.Contains(ev.Reason, "this one kept") {
			t.Fatalf("audit event %+v", ev)
		}

		// A visitor has nothing to keep.
		v := &browser{t: t}
		v.do(a, req{method: "GET", path: "/login"})
		r = httptest.NewRequest("GET", origin+"/login", nil)
		r.AddCookie(&http.Cookie{Name: a.m.CookieName(), Value: v.cookie})
		w := httptest.NewRecorder()
		anon, err := a.m.Start(w, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.m.EndOtherSessions(context.Background(), anon, "password changed", ""); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("EndOtherSessions of a visitor: %v, want ErrNoSession", err)
		}
	})
}

// recordingAuditor keeps the events it is given.
type recordingAuditor struct{ events []identity.Event }

func (r *recordingAuditor) Audit(_ context.Context, e identity.Event) error {
	r.events = append(r.events, e)
	return nil
}

// A store without identity.SessionRevoker cannot sign anyone out
// everywhere: EndSessions says so with ErrCannotEndSessions, ends
// nothing, and the trail shows the attempt failed.
func TestEndSessionsUnsupported(t *testing.T) {
	store := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	audit := &recordingAuditor{}
	plain := struct{ identity.SessionStore }{store} // hides RevokeSessions
	m, err := httpauth.New(httpauth.Config{Store: plain, Origin: origin, Clock: clock, Logger: quiet, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, m, clock)
	b := signInAs(t, a, "alice")
	if _, err := m.EndSessions(context.Background(), "alice", "support", ""); !errors.Is(err, httpauth.ErrCannotEndSessions) {
		t.Fatalf("EndSessions over a store without SessionRevoker: %v, want ErrCannotEndSessions", err)
	}
	wantSignedIn(t, a, b, "alice", true)
	if len(audit.events) != 1 || audit.events[0].Result != identity.Failure || audit.events[0].Action != "end-sessions" {
		t.Fatalf("audit events %+v, want one failed end-sessions", audit.events)
	}
}
