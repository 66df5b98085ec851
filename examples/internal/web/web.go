// Package web holds what the example servers share: security headers, the
// page layout and the plain-words messages for puce's typed errors. Sessions,
// CSRF checks and cookies are identity/httpauth's. It is example code built on
// puce's public API only; a real deployment would use its own framework.
package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
)

// Token returns n random bytes as unpadded base64url: unguessable, safe in
// cookies, URLs and form fields.
func Token(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Headers sets the security headers of every page: no framing (no
// clickjacking of a PIN or a consent button), no inline script, scripts and
// forms only from our origin, and connections only to ourselves and the
// card agent.
func Headers(w http.ResponseWriter, connect ...string) {
	h := w.Header()
	src := strings.Join(append([]string{"'self'"}, connect...), " ")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src "+src+
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// ClientIP is the peer address recorded in the audit trail. The examples
// listen directly, so there is no proxy header to trust.
func ClientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
