package agent

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// What a page of another origin gets from the agent: a CORS preflight
// refused with no Access-Control-Allow-* header (Fetch §4.8 CORS-preflight
// fetch: the browser then sends nothing more), the Private Network Access
// opt-in refused too; and a request that needs no preflight (a text/plain
// POST, Fetch §3.2.3 CORS-safelisted) refused before its body is read, so
// it creates nothing. The allowed site gets both headers for its own
// origin only, with Vary: Origin so that no cache hands them to another.
func TestPreflightAndSimpleRequests(t *testing.T) {
	ts, _ := setup(t)
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", ts.URL+"/v1/requests", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		req.Header.Set("Access-Control-Request-Private-Network", "true")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, evil := range []string{"https://evil.example", "null", site + ".evil.example", strings.ToUpper(site)} {
		resp := preflight(evil)
		if resp.StatusCode < 400 {
			t.Errorf("preflight of %s: %d", evil, resp.StatusCode)
		}
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-Allow-") {
				t.Errorf("preflight of %s answered %s: %s", evil, k, resp.Header.Get(k))
			}
		}
		req, _ := http.NewRequest("POST", ts.URL+"/v1/requests", strings.NewReader(`{"kind":"authenticate","nonce":"`+strings.Repeat("A", 43)+`"}`))
		req.Header.Set("Origin", evil)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("simple POST of %s: %d %v", evil, resp.StatusCode, resp.Header)
		}
	}
	resp := preflight(site)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != site ||
		h.Get("Access-Control-Allow-Private-Network") != "true" || !strings.Contains(h.Get("Vary"), "Origin") {
		t.Fatalf("preflight of the allowed site: %d %v", resp.StatusCode, h)
	}
}

// A page of another origin that loops on the agent (a no-preflight GET or
// text/plain POST, which the browser sends) must not fill the holder's
// disk through the agent's log: one line per origin and minute, carrying
// the count (OWASP ASVS 4.0.3 V7.1.3 logs security events, V11.1.4
// anti-automation; a log written at the attacker's pace is neither).
func TestRefusedOriginLogBounded(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{mu: make(chan struct{}, 1)}
	a, err := New(Config{Allowed: []string{site}, Source: &InProcess{Transport: card.Card, Name: "test"},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	for i := 0; i < 300; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/requests/x", nil)
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), "\n"); n == 0 || n > 2 {
		t.Fatalf("300 refused requests of one origin wrote %d log lines:\n%.2000s", n, logs)
	}
}
