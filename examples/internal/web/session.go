// Package web holds what the example servers share: server-side sessions,
// CSRF tokens, secure cookies, security headers, the page layout and the
// plain-words messages for puce's typed errors. It is example code built on
// puce's public API only; a real deployment would use its own framework.
package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Token returns n random bytes as unpadded base64url: unguessable, safe in
// cookies, URLs and form fields.
func Token(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Session is one browser's server-side state. The cookie holds only a random
// ID; everything else, including who is logged in, stays on the server, so a
// stolen database dump or a tampered cookie grants nothing.
type Session[T any] struct {
	id string
	// CSRF is the synchroniser token every POST from this browser must carry.
	CSRF     string
	created  time.Time
	lastSeen time.Time
	mu       sync.Mutex
	data     T
}

// With runs fn with the session's data locked: requests of one browser can
// arrive in parallel.
func (s *Session[T]) With(fn func(d *T)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.data)
}

// Sessions keeps sessions in memory. One process only: a deployment with
// several instances keeps them in its shared database instead.
type Sessions[T any] struct {
	// Cookie is the cookie name. With Secure it gets the __Host- prefix,
	// which browsers accept only from HTTPS, without Domain and with Path=/,
	// so no other host or path can plant or shadow it.
	Cookie string
	// Secure marks the cookie Secure: set it whenever the site is served
	// over TLS.
	Secure bool
	// Idle and Max bound a session's life (default 30 minutes idle, 12 hours
	// in all).
	Idle, Max time.Duration
	Now       func() time.Time

	mu sync.Mutex
	m  map[string]*Session[T]
}

func (ss *Sessions[T]) now() time.Time {
	if ss.Now != nil {
		return ss.Now()
	}
	return time.Now()
}

func (ss *Sessions[T]) name() string {
	if ss.Secure {
		return "__Host-" + ss.Cookie
	}
	return ss.Cookie
}

func (ss *Sessions[T]) limits() (idle, max time.Duration) {
	idle, max = ss.Idle, ss.Max
	if idle == 0 {
		idle = 30 * time.Minute
	}
	if max == 0 {
		max = 12 * time.Hour
	}
	return
}

// Get returns the browser's session, creating one (and setting its cookie)
// when it has none or its session expired. Every visitor gets one, so that
// the login and sign-up forms carry a CSRF token too.
func (ss *Sessions[T]) Get(w http.ResponseWriter, r *http.Request) *Session[T] {
	now := ss.now()
	idle, max := ss.limits()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[string]*Session[T]{}
	}
	if c, err := r.Cookie(ss.name()); err == nil {
		if s, ok := ss.m[c.Value]; ok {
			if now.Sub(s.lastSeen) < idle && now.Sub(s.created) < max {
				s.lastSeen = now
				return s
			}
			delete(ss.m, c.Value)
		}
	}
	// Expired sessions of other browsers go when a new one starts: the map
	// stays bounded by the number of live sessions.
	for id, s := range ss.m {
		if now.Sub(s.lastSeen) >= idle || now.Sub(s.created) >= max {
			delete(ss.m, id)
		}
	}
	return ss.start(w, now, nil)
}

func (ss *Sessions[T]) start(w http.ResponseWriter, now time.Time, data *T) *Session[T] {
	s := &Session[T]{id: Token(32), CSRF: Token(32), created: now, lastSeen: now}
	if data != nil {
		s.data = *data
	}
	ss.m[s.id] = s
	http.SetCookie(w, &http.Cookie{Name: ss.name(), Value: s.id, Path: "/", HttpOnly: true,
		Secure: ss.Secure, SameSite: http.SameSiteLaxMode})
	return s
}

// Renew replaces the session by a new one (new ID, new CSRF token) holding
// data. Call it whenever the privilege changes — a password accepted, a
// login completed, a logout — so an ID planted or seen before cannot ride
// on the new privilege (session fixation).
func (ss *Sessions[T]) Renew(w http.ResponseWriter, old *Session[T], data T) *Session[T] {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if old != nil {
		delete(ss.m, old.id)
	}
	return ss.start(w, ss.now(), &data)
}

// Count is the number of sessions held.
func (ss *Sessions[T]) Count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// CheckCSRF reports whether a POST carries the session's token, in the form
// field "csrf" or the X-CSRF-Token header (for the pages' fetch calls), and
// comes from our own origin when the browser says where it comes from.
func CheckCSRF[T any](r *http.Request, s *Session[T], origin string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != origin {
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
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
