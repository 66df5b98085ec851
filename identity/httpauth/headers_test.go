package httpauth_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity/httpauth"
	"github.com/puce-id/puce/identity/memstore"
)

// Every answer of the endpoints — JSON, refusals, the contract, the
// script, a path that does not exist — carries the headers a browser
// needs to keep it out of frames, out of other sites' reach and on HTTPS
// (OWASP ASVS 5.0 V3.4.1, V3.4.3–V3.4.6; 4.0.3 V14.4.2–V14.4.7).
func TestEndpointsSecurityHeaders(t *testing.T) {
	sh := newShared(memstore.New())
	s := newSite(t, sh, withStarts(httpauth.StartLimit{PerMinute: 60, Burst: 1}))
	c := &client{t: t}
	check := func(what string, h http.Header, json bool) {
		t.Helper()
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", what, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Cross-Origin-Resource-Policy") != "same-origin" {
			t.Errorf("%s: headers %v", what, h)
		}
		hsts := h.Get("Strict-Transport-Security")
		age, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(hsts, ";")[0], "max-age="))
		if age < 365*24*3600 || !strings.Contains(hsts, "includeSubDomains") {
			t.Errorf("%s: Strict-Transport-Security %q, want a year at least", what, h.Get("Strict-Transport-Security"))
		}
		if json && !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
			t.Errorf("%s: Content-Disposition %q", what, h.Get("Content-Disposition"))
		}
	}
	for _, q := range []struct {
		method, path string
		body         any
		json         bool
	}{
		{"GET", "/auth/session", nil, true},
		{"POST", "/auth/login/webauthn/begin", nil, true},
		{"POST", "/auth/login/webauthn/begin", nil, true}, // 429
		{"POST", "/auth/login/nothing/finish", nil, true}, // 404 of the contract
		{"POST", "/auth/logout", nil, false},              // 204
		{"GET", "/auth/openapi.json", nil, false},
		{"GET", "/auth/puce.js", nil, false},
		{"GET", "/auth/no-such-path", nil, false},
	} {
		status, h, _ := c.call(s, q.method, q.path, q.body)
		check(q.method+" "+q.path+" "+strconv.Itoa(status), h, q.json)
	}
	// Refused by Protect, before any endpoint.
	c.csrf = "forged"
	status, h, _ := c.call(s, "POST", "/auth/password", map[string]string{"username": "a", "password": "b"})
	check("a forged token "+strconv.Itoa(status), h, true)

	// Development serves plain HTTP on localhost: no HSTS, which a browser
	// would keep for localhost's every port.
	dev, err := httpauth.New(httpauth.Config{Store: memstore.New(), Origin: "http://localhost:8080", Development: true})
	if err != nil {
		t.Fatal(err)
	}
	w := &headerRecorder{h: http.Header{}}
	dev.WriteError(w, httpTestRequest(), httpauth.ErrCSRF)
	if w.h.Get("Strict-Transport-Security") != "" || w.h.Get("Content-Security-Policy") == "" {
		t.Fatalf("development headers %v", w.h)
	}
}

// A body the endpoints are to read must say it is JSON: anything else,
// or nothing, is 415 Unsupported Media Type (OWASP ASVS 4.0.3 V13.1.5;
// RFC 9110 §15.5.16), and JSON in another charset than UTF-8 too (RFC
// 8259 §8.1).
func TestEndpointsContentType(t *testing.T) {
	s := memSite(t)
	s.signUpPassword(t, "alice")
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=iso-8859-1", "application/jsonx"} {
		c := &client{t: t, header: map[string]string{"Content-Type": ct}}
		c.must(s, 200, "GET", "/auth/session", nil, nil)
		status, _, raw := c.call(s, "POST", "/auth/password", `{"username":"alice","password":"correct horse battery"}`)
		if status != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: %d %s, want 415", ct, status, raw)
		}
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"} {
		c := &client{t: t, header: map[string]string{"Content-Type": ct}}
		c.must(s, 200, "GET", "/auth/session", nil, nil)
		c.must(s, 200, "POST", "/auth/password", `{"username":"alice","password":"correct horse battery"}`, nil)
	}
	// No body needs no type: a begin posts nothing.
	c := &client{t: t, header: map[string]string{"Content-Type": ""}}
	c.must(s, 200, "GET", "/auth/session", nil, nil)
	c.must(s, 200, "POST", "/auth/login/webauthn/begin", nil, nil)
}

func httpTestRequest() *http.Request {
	return httptest.NewRequest("GET", "http://localhost:8080/", nil)
}
