package httpauth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// storedSessions counts the store's sessions by purging them all (the
// count is the purge's): the store is empty afterwards.
func storedSessions(t *testing.T, store identity.SessionStore) int64 {
	t.Helper()
	n, err := store.PurgeSessions(context.Background(), farFuture)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var farFuture = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// Anonymous requests cost no store write: a bot that opens GET
// /auth/session without a cookie a thousand times, or with one cookie a
// thousand times, leaves no stored session, and a visitor's CSRF token
// lasts without one. The first row comes with the first thing worth
// keeping: a proof, or a ceremony under way.
func TestVisitorsStoreNothing(t *testing.T) {
	realStores(t, func(t *testing.T, store identity.Store) {
		s := newSite(t, newShared(store))
		s.signUpPassword(t, "alice")
		code := s.enrollTOTP(t, "alice")

		for range 500 {
			bot := &client{t: t}
			bot.must(s, 200, "GET", "/auth/session", nil, nil)
			if bot.cookie == "" || bot.csrf == "" {
				t.Fatal("a visitor got no cookie or no CSRF token")
			}
		}
		v := &client{t: t}
		v.must(s, 200, "GET", "/auth/session", nil, nil)
		cookie, csrf := v.cookie, v.csrf
		for range 500 {
			var st stateAnswer
			v.must(s, 200, "GET", "/auth/session", nil, &st)
			if v.cookie != cookie || st.CSRFToken != csrf {
				t.Fatal("a visitor's cookie or CSRF token changed between page views")
			}
		}
		if n := storedSessions(t, store); n != 0 {
			t.Fatalf("1000 anonymous requests stored %d sessions, want 0", n)
		}

		// A visitor's token protects a form without a stored row: a
		// wrong one is refused, the right one goes through.
		v.csrf = "forged"
		v.must(s, 403, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
		v.csrf = csrf
		v.must(s, 200, "POST", "/auth/password", map[string]string{"username": "alice", "password": "correct horse battery"}, nil)
		if v.cookie == cookie {
			t.Fatal("the first proof did not move the session to a new ID")
		}
		var ch challengeAnswer
		v.must(s, 200, "POST", "/auth/login/totp/begin", nil, &ch)
		var st stateAnswer
		v.must(s, 200, "POST", "/auth/login/totp/finish", map[string]string{"challengeId": ch.ChallengeID, "response": code()}, &st)
		if !st.Complete {
			t.Fatalf("login: %+v", st)
		}
		if n := storedSessions(t, store); n != 1 {
			t.Fatalf("one login stored %d sessions, want 1", n)
		}

		// A ceremony begun by a visitor is worth a row: its binding key.
		// Two begun at once in two tabs share the one row.
		w := &client{t: t}
		w.must(s, 200, "GET", "/auth/session", nil, nil)
		var wg sync.WaitGroup
		for range 2 {
			tab := *w
			tab.seen = nil
			wg.Add(1)
			go func() {
				defer wg.Done()
				if status, _, body := tab.call(s, "POST", "/auth/login/webauthn/begin", nil); status != 200 {
					t.Errorf("a passkey login begun in a visitor's tab: %d %s", status, body)
				}
			}()
		}
		wg.Wait()
		if n := storedSessions(t, store); n != 1 {
			t.Fatalf("a visitor's two ceremonies stored %d sessions, want 1", n)
		}
	})
}
