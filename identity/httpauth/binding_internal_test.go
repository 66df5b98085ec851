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
