package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/puce-id/puce/examples/internal/agent"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// await runs expr (a promise) in p and returns its value as a string, or
// "ERR …" when it rejects.
func (p *page) await(expr string) string {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("window.r = ''; Promise.resolve().then(() => "+expr+").then(v => window.r = 'OK ' + String(v), e => window.r = 'ERR ' + e); true")); err != nil {
		p.fail("evaluating %s: %v", expr, err)
	}
	for {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("window.r"))
		if err != nil {
			p.fail("evaluating %s: %v", expr, err)
		}
		if s != "" {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Who may ask the card agent anything, as Chromium sees it: the allowed
// site reads the agent's answers (CORS, Fetch §3.2.5); a page of another
// origin reads nothing; and a page whose own domain name now resolves to
// 127.0.0.1 (DNS rebinding), which Chromium treats as the same origin as
// the agent's port, gets 421 for everything, its Host naming its own
// domain (RFC 9110 §7.2, §15.5.20).
func TestAgentOrigins(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	allowed, ah := listen(t)
	other, oh := listen(t)
	blank := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>page</title>`))
	})
	ah.set(blank)
	oh.set(blank)
	a, err := agent.New(agent.Config{Allowed: []string{allowed.URL}, Source: &agent.InProcess{Transport: card.Card, Name: "test card"}})
	if err != nil {
		t.Fatal(err)
	}
	ag := httptest.NewServer(a.Handler())
	t.Cleanup(ag.Close)
	a.SetSelf(ag.URL)
	agentPort := ag.URL[strings.LastIndex(ag.URL, ":")+1:]

	p := newBrowserWith(t, chromedp.Flag("host-resolver-rules", "MAP rebind.test 127.0.0.1"))
	create := `fetch("` + ag.URL + `/v1/requests", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({kind: "authenticate", nonce: "` + strings.Repeat("A", 43) + `"})}).then(r => r.status)`

	p.do(chromedp.Navigate(allowed.URL + "/"))
	if got := p.await(create); got != "OK 201" {
		t.Fatalf("the allowed site's request: %s", got)
	}
	p.do(chromedp.Navigate(other.URL + "/"))
	if got := p.await(create); !strings.HasPrefix(got, "ERR") {
		t.Fatalf("a page of another origin read the agent's answer: %s", got)
	}
	// The rebound page: same origin as the agent, so nothing but the Host
	// check stands between it and the agent's pages. (The attacker's own
	// document came from the attacker's server before the name was
	// rebound; a path the agent does not serve stands for it, with no
	// policy of the agent's own.)
	p.do(chromedp.Navigate("http://rebind.test:" + agentPort + "/attacker"))
	if got := p.await(`fetch("/").then(r => r.status)`); got != "OK 421" {
		t.Fatalf("the rebound page reads the agent's status page: %s", got)
	}
	if got := p.await(`fetch("/v1/requests", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({kind: "authenticate", nonce: "` + strings.Repeat("A", 43) + `"})}).then(r => r.status)`); got != "OK 421" {
		t.Fatalf("the rebound page's request: %s", got)
	}
}
