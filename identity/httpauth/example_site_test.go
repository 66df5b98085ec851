package httpauth_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/webauthn"
)

// A whole site in one call: a password, then an authenticator app or a
// security key (add Cards: &cardauth.Config{Roots: ...} for smart cards).
// The site serves the JSON endpoints and the browser client under /auth/;
// a page imports /auth/puce.js and needs a line per factor.
func ExampleNewSite() {
	store := memstore.New() // sqlstore.Open(ctx, "postgres://…") for several instances
	sealer, _ := identity.NewSealer("k1", map[string][]byte{"k1": identity.GenerateSealerKey()})
	site, err := httpauth.NewSite(httpauth.SiteConfig{
		Store:    store,
		Origin:   "https://bank.example",
		Name:     "Example Bank",
		Sealer:   sealer,             // authenticator apps (TOTP)
		WebAuthn: &webauthn.Config{}, // security keys and passkeys, RP ID bank.example
		SignUp:   true,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", site)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<script type="module">
  import { Client } from "/auth/puce.js";
  const puce = new Client();
  // await puce.password(user, pass); await puce.login("totp", code);
  // await puce.login("webauthn"); await puce.passkey({ mediation: "conditional" });
</script>`)
	})

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "https://bank.example/auth/session", nil))
	fmt.Println(w.Code, site.TOTP != nil, site.WebAuthn != nil, site.Cards != nil)
	// Output: 200 true true false
}

// The browser client is an ES module with no build step. Endpoints serve
// it at Prefix + "/puce.js", where it finds them by its own URL; Script
// serves it anywhere else.
func ExampleScript() {
	mux := http.NewServeMux()
	mux.Handle("GET /js/puce.js", httpauth.Script()) // then new Client({base: "/auth/"})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/js/puce.js", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Println(strings.Contains(w.Body.String(), "export class Client"))
	// Output:
	// 200 text/javascript; charset=utf-8
	// true
}
