package httpauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// TestProtectWith: the refusals Protect answers in JSON reach the
// application's own handler instead, with the same errors, and nothing
// behind it runs; a request that passes runs as under Protect.
func TestProtectWith(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	m := newManager(t, memstore.New(), clock)
	ran := 0
	var refusedWith []error
	h := m.ProtectWith(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			s, err := m.Start(w, r)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(s.CSRFToken()))
			return
		}
		ran++
	}), func(w http.ResponseWriter, r *http.Request, err error) {
		refusedWith = append(refusedWith, err)
		status, _ := httpauth.Public(err)
		w.WriteHeader(status)
		w.Write([]byte("<p>refused</p>"))
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", origin+"/form", nil))
	cookie, csrf := rec.Result().Cookies()[0], rec.Body.String()

	post := func(form url.Values, site string) int {
		r := httptest.NewRequest("POST", origin+"/form", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", site)
		r.AddCookie(cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	if got := post(url.Values{httpauth.CSRFField: {"forged"}}, "same-origin"); got != http.StatusForbidden {
		t.Fatalf("a forged token: %d", got)
	}
	if got := post(url.Values{httpauth.CSRFField: {csrf}}, "cross-site"); got != http.StatusForbidden {
		t.Fatalf("a cross-site post: %d", got)
	}
	if got := post(url.Values{httpauth.CSRFField: {csrf}, "x": {strings.Repeat("a", httpauth.DefaultMaxBodyBytes)}}, "same-origin"); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversized body: %d", got)
	}
	if ran != 0 || len(refusedWith) != 3 || !errors.Is(refusedWith[0], httpauth.ErrCSRF) || !errors.Is(refusedWith[1], httpauth.ErrCSRF) ||
		!errors.Is(refusedWith[2], httpauth.ErrTooLarge) {
		t.Fatalf("ran %d, refused with %v", ran, refusedWith)
	}
	if got := post(url.Values{httpauth.CSRFField: {csrf}}, "same-origin"); got != http.StatusOK || ran != 1 {
		t.Fatalf("a good post: %d, ran %d", got, ran)
	}
}

// TestReset: a reset session keeps nothing of its login, pending proofs or
// values, and its old ID no longer loads.
func TestReset(t *testing.T) {
	clock := identitytest.NewClock(identitytest.Epoch())
	store := memstore.New()
	m := newManager(t, store, clock)
	w := httptest.NewRecorder()
	s, err := m.Start(w, httptest.NewRequest("GET", origin+"/", nil))
	if err != nil {
		t.Fatal(err)
	}
	pw := identity.Proof{Subject: "alice", Kind: identity.KindPassword, Factors: identity.Knowledge, Assurance: identity.Level1, Time: clock.Now()}
	otp := identity.Proof{Subject: "alice", Kind: identity.KindTOTP, Factors: identity.Possession, Assurance: identity.Level2, Time: clock.Now()}
	m.AddProof(t.Context(), w, s, pw)
	if _, err := m.AddProof(t.Context(), w, s, otp); err != nil {
		t.Fatal(err)
	}
	s.SetValue("k", "v")
	if err := m.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	old := w.Result().Cookies()
	oldCookie := old[len(old)-1]
	w = httptest.NewRecorder()
	if err := m.Reset(t.Context(), w, s); err != nil {
		t.Fatal(err)
	}
	if s.Login() != nil || s.Subject() != "" || len(s.Pending()) != 0 || s.Value("k") != "" {
		t.Fatalf("after Reset: login %v, subject %q, pending %d, value %q", s.Login(), s.Subject(), len(s.Pending()), s.Value("k"))
	}
	r := httptest.NewRequest("GET", origin+"/", nil)
	r.AddCookie(oldCookie)
	if _, err := m.Load(r); !errors.Is(err, identity.ErrNoSession) {
		t.Fatalf("the old ID after Reset: %v", err)
	}
	r = httptest.NewRequest("GET", origin+"/", nil)
	r.AddCookie(w.Result().Cookies()[0])
	if got, err := m.Load(r); err != nil || got.Login() != nil {
		t.Fatalf("the new ID: %v, %v", got, err)
	}
}
