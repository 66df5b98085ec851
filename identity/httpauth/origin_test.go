package httpauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
)

// A browser sends its Origin header as the origin's serialisation (RFC
// 6454 §6.2 with the WHATWG URL host parser): scheme and host in lower
// case, no port when it is the scheme's default. Config.Origin written
// another way ("https://Bank.Example:443", as an operator may copy it)
// names the same origin and must not refuse every unsafe request of the
// site's own pages; it is kept in the serialised form.
func TestOriginSerialised(t *testing.T) {
	for _, cfgOrigin := range []string{"https://Bank.Example", "HTTPS://bank.example:443", "https://BANK.example:443"} {
		store := memstore.New()
		m, err := httpauth.New(httpauth.Config{Store: store, Origin: cfgOrigin, Logger: quiet})
		if err != nil {
			t.Fatalf("%s: %v", cfgOrigin, err)
		}
		var csrf string
		h := m.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := m.Load(r); err != nil {
				m.WriteError(w, r, err)
			}
		}))
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", origin+"/login", nil)
		s, err := m.Start(w, r)
		if err != nil {
			t.Fatal(err)
		}
		csrf = s.CSRFToken()
		cookie := w.Result().Cookies()[0]
		r = httptest.NewRequest("POST", origin+"/do", nil)
		r.Header.Set("Origin", origin) // as Chromium sends it
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set(httpauth.CSRFHeader, csrf)
		r.AddCookie(cookie)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("Config.Origin %q: the site's own POST got %d %s", cfgOrigin, w.Code, w.Body)
		}
	}
	// What no browser could send stays refused.
	for _, bad := range []string{"https://bank.example:", "https://bänk.example", "https://bank.example:0443x"} {
		if _, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: bad}); !errors.Is(err, identity.ErrBadInput) {
			t.Errorf("Config.Origin %q: %v, want ErrBadInput", bad, err)
		}
	}
}
