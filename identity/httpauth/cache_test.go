package httpauth_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// A response that sets the session cookie must not be stored by a shared
// cache: Set-Cookie does not inhibit caching (RFC 9111 §7.3), so a page
// that starts a session (the sign-in page, often cached by a CDN as any
// other page), a renewal after a proof, or a logout, kept by a cache,
// would hand one browser's session (or its end) to the next visitor. The
// Manager marks every such response Cache-Control: no-store, whatever
// page the application serves with it.
func TestSessionCookieNotStored(t *testing.T) {
	clock := identitytest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	m := newManager(t, memstore.New(), clock)
	check := func(what string, w *httptest.ResponseRecorder) {
		t.Helper()
		if len(w.Result().Cookies()) == 0 {
			t.Fatalf("%s: no cookie set", what)
		}
		if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("%s: Cache-Control %q with Set-Cookie", what, cc)
		}
	}
	w := httptest.NewRecorder()
	s, err := m.Start(w, httptest.NewRequest("GET", origin+"/login", nil))
	if err != nil {
		t.Fatal(err)
	}
	check("Start", w)
	w = httptest.NewRecorder()
	_, err = m.AddProof(t.Context(), w, s, identity.Proof{Subject: "alice", Kind: identity.KindPassword,
		Factors: identity.Knowledge, Assurance: identity.Level1, Time: clock.Now()})
	if err != nil && !identityIs(err, identity.ErrStepUpRequired) {
		t.Fatal(err)
	}
	check("AddProof", w)
	w = httptest.NewRecorder()
	if err := m.Logout(t.Context(), w, s); err != nil {
		t.Fatal(err)
	}
	check("Logout", w)
}
