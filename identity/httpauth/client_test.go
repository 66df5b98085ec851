package httpauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/totp"
	"github.com/puce-id/puce/webauthn"
)

// The endpoints serve the browser client beside themselves, under any
// Prefix, as a JavaScript module a browser revalidates by its ETag; other
// methods are refused. (Its behaviour in a browser is tested in Chromium,
// examples/browsertest TestClientModule.)
func TestEndpointsServeScript(t *testing.T) {
	store := memstore.New()
	svc := &identity.Services{Store: store, Throttle: &identity.Throttle{Store: store}}
	sealer, _ := identity.NewSealer("k", map[string][]byte{"k": identity.GenerateSealerKey()})
	f, err := totp.New(svc, sealer, "Bank")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := httpauth.New(httpauth.Config{Store: store, Origin: origin})
	api, err := m.Endpoints(httpauth.EndpointsConfig{Prefix: "/id/v1", Factors: []identity.Authenticator{f}})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	api.ServeHTTP(w, httptest.NewRequest("GET", origin+"/id/v1/puce.js", nil))
	etag := w.Header().Get("ETag")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") || etag == "" ||
		w.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(w.Body.String(), "export class Client") {
		t.Fatalf("GET puce.js: %d %v", w.Code, w.Header())
	}
	r := httptest.NewRequest("GET", origin+"/id/v1/puce.js", nil)
	r.Header.Set("If-None-Match", etag)
	w = httptest.NewRecorder()
	api.ServeHTTP(w, r)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Fatalf("revalidation: %d, %d bytes", w.Code, w.Body.Len())
	}
	w = httptest.NewRecorder()
	httpauth.Script().ServeHTTP(w, httptest.NewRequest("POST", "/puce.js", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST puce.js: %d", w.Code)
	}
}

// NewSite refuses what it cannot build, with identity.ErrBadInput.
func TestNewSiteRefuses(t *testing.T) {
	store := memstore.New()
	for name, cfg := range map[string]httpauth.SiteConfig{
		"no store":         {Origin: origin, WebAuthn: &webauthn.Config{}},
		"http origin":      {Store: store, Origin: "http://bank.example", WebAuthn: &webauthn.Config{}},
		"no second factor": {Store: store, Origin: origin},
		"bad RP ID":        {Store: store, Origin: origin, WebAuthn: &webauthn.Config{RPID: "other.example"}},
		"signing without cards": {Store: store, Origin: origin, WebAuthn: &webauthn.Config{},
			Endpoints: httpauth.EndpointsConfig{Signing: &httpauth.Signing{
				Document: func(*http.Request, *httpauth.Session, string) (*httpauth.Document, error) { return nil, nil },
				Signed:   func(*http.Request, *httpauth.Session, *httpauth.Document, *esign.Signed) error { return nil }}}},
	} {
		if _, err := httpauth.NewSite(cfg); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
