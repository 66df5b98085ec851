package httpauth

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"time"
)

// clientJS is the browser client, client/puce.js: an ES module with no
// build step that calls these endpoints, runs WebAuthn and asks the card
// agent. Its tests run in Chromium (examples/browsertest).
//
//go:embed client/puce.js
var clientJS []byte

// ScriptName is the browser client's file name; Endpoints serve it at
// Prefix + "/" + ScriptName, where it finds the endpoints beside itself.
const ScriptName = "puce.js"

// clientETag names this build's module, so a browser revalidates it
// cheaply and never keeps an old one after an upgrade.
var clientETag = func() string {
	sum := sha256.Sum256(clientJS)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}()

// Script serves the browser client, an ES module:
//
//	<script type="module">
//	  import { Client } from "/auth/puce.js";
//	  const puce = new Client();
//	</script>
//
// Endpoints serve it already at Prefix + "/puce.js"; mount Script
// elsewhere only to serve it from another path, and then tell the Client
// where the endpoints are (new Client({base: "/auth/"})).
func Script() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", clientETag)
		http.ServeContent(w, r, ScriptName, time.Time{}, bytes.NewReader(clientJS))
	})
}
