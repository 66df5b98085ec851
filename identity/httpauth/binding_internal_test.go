package httpauth

import (
	"net/http/httptest"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
)

// A session stored before sessions had a binding key gets one the first
// time it begins a challenge, kept in the store, so its finish (maybe on
// another instance) checks against the same key.
func TestBindKeyAddedToOldSession(t *testing.T) {
	m, err := New(Config{Store: memstore.New(), Origin: "https://bank.example"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Start(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(t.Context(), s); err != nil { // a visitor's first row
		t.Fatal(err)
	}
	s.data.Bind = nil // as an older release stored it
	if err := m.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	old, err := m.load(t.Context(), s.token)
	if err != nil || old.data.Bind != nil {
		t.Fatalf("reloaded %v: bind %x", err, old.data.Bind)
	}
	id := identity.NewChallengeID()
	bound, err := m.bindChallenge(t.Context(), old, id)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.load(t.Context(), s.token)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := boundChallenge(again, bound); err != nil || got != id {
		t.Fatalf("bound %q on a reload: %v, %v", bound, got, err)
	}
}

// Two ceremonies begun at once by a new visitor (two tabs, one cookie)
// both store the session's first row; the second finds the first's and
// binds its challenge to the stored key, so both can finish.
func TestVisitorTabsShareBindKey(t *testing.T) {
	m, err := New(Config{Store: memstore.New(), Origin: "https://bank.example"})
	if err != nil {
		t.Fatal(err)
	}
	tok := newToken()
	one, two := m.visitor(tok), m.visitor(tok)
	id1, id2 := identity.NewChallengeID(), identity.NewChallengeID()
	b1, err := m.bindChallenge(t.Context(), one, id1)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := m.bindChallenge(t.Context(), two, id2)
	if err != nil {
		t.Fatalf("the second tab's ceremony: %v", err)
	}
	stored, err := m.load(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	for bound, id := range map[string]identity.ChallengeID{b1: id1, b2: id2} {
		if got, err := boundChallenge(stored, bound); err != nil || got != id {
			t.Fatalf("bound %q against the stored session: %v, %v", bound, got, err)
		}
	}
}
