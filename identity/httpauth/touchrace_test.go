package httpauth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// A proof must not be lost because another request of the same browser
// (a page's keep-alive, an image, a second tab) only moved the session's
// idle deadline while the factor was checking: the factor has already
// spent the code or the challenge, so refusing the renewal with
// ErrChanged (409) would make the user wait for the next code to sign in.
// AddProof builds again on the touched version; a change of the session's
// content (a parallel renewal, a Save) still wins over it.
func TestProofSurvivesParallelTouch(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	m := newManager(t, memstore.New(), clock)
	a := newApp(t, m, clock)
	b := &browser{t: t}
	b.do(a, req{method: "GET", path: "/login"})
	load := func() (*http.Request, error) {
		r, _ := http.NewRequest("GET", origin+"/", nil)
		r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: b.cookie})
		_, err := m.Load(r)
		return r, err
	}
	r, _ := http.NewRequest("GET", origin+"/", nil)
	r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: b.cookie})
	s, err := m.Load(r) // the finish request reads the session …
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)    // … past the interval at which a request moves the idle deadline …
	if _, err := load(); err != nil { // … and a parallel request touches it
		t.Fatal(err)
	}
	p := identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: clock.Now()}
	w := &headerRecorder{h: http.Header{}}
	if _, err := m.AddProof(context.Background(), w, s, p); !identityIs(err, identity.ErrStepUpRequired) {
		t.Fatalf("proof after a parallel touch: %v", err)
	}
	if s.Subject() != "alice" || len(s.Pending()) != 1 || len(w.h.Values("Set-Cookie")) != 1 {
		t.Fatalf("session after the proof: %q, %d pending, cookies %v", s.Subject(), len(s.Pending()), w.h.Values("Set-Cookie"))
	}

	// Save likewise: a touch does not refuse it, a parallel Save does.
	b.cookie = w.h.Get("Set-Cookie")[len(m.CookieName())+1:]
	b.cookie = b.cookie[:strings.IndexByte(b.cookie, ';')]
	r, _ = http.NewRequest("GET", origin+"/", nil)
	r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: b.cookie})
	s1, err := m.Load(r)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = http.NewRequest("GET", origin+"/", nil)
	r.AddCookie(&http.Cookie{Name: m.CookieName(), Value: b.cookie})
	s2, err := m.Load(r)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := load(); err != nil {
		t.Fatal(err)
	}
	s1.SetValue("payment", "1")
	if err := m.Save(context.Background(), s1); err != nil {
		t.Fatalf("save after a parallel touch: %v", err)
	}
	s2.SetValue("payment", "2")
	if err := m.Save(context.Background(), s2); !identityIs(err, identity.ErrChanged) {
		t.Fatalf("save after a parallel save: %v", err)
	}
}
