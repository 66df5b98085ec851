package agent

import (
	"net/http"
	"strings"
	"testing"
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
