package browsertest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// hostileAgent is whatever answers on the card agent's port when the real
// agent is not running there (any local program may bind it): it accepts a
// request and names prompt as the window to show, then says the request
// failed.
func hostileAgent(t *testing.T, prompt string) string {
	ts, h := listen(t)
	h.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.Header().Set("Access-Control-Allow-Private-Network", "true")
		switch r.Method {
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPost:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]string{"id": "r1", "prompt": prompt})
		default:
			// Slow to fail, so that a window pointed at the prompt has
			// run it before the request ends.
			time.Sleep(500 * time.Millisecond)
			json.NewEncoder(w).Encode(map[string]string{"status": "failed", "error": "no"})
		}
	}))
	return ts.URL
}

// The client points the agent's window (or its link) only at a page of
// the agent's own origin. The window opens as about:blank, which shares
// the site's origin: a prompt of "javascript:…" from whatever answers on
// the agent's port would run in the bank's origin (its session, its CSRF
// token, its pages), and one of another site would put a look-alike PIN
// prompt in the agent's window. The client refuses both with a
// CardAgentError and sends the holder nowhere.
func TestClientAgentPromptOrigin(t *testing.T) {
	p := newBrowser(t)
	for name, prompt := range map[string]string{
		"javascript": "javascript:opener.pwned=document.domain;void 0",
		"other site": "https://phish.example/prompt/r1",
	} {
		cs := startClientSite(t, hostileAgent(t, prompt))
		// The page as a person has it: popups allowed (openClientPage
		// blocks them to test the link).
		p.do(chromedp.Navigate(cs.URL + "/"))
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool]("document.title === 'ready'"))
		cancel()
		if err != nil {
			t.Fatalf("%s: the module did not load: %v", name, err)
		}
		o := p.refused(`puce.login("card")`, "CardAgentError", nil)
		var pwned string
		p.ok(`Promise.resolve(String(window.pwned || ""))`, &pwned)
		if pwned != "" {
			t.Fatalf("%s: the agent's prompt ran script in the site's origin (%s)", name, pwned)
		}
		var popup string
		p.ok(`Promise.resolve((() => { try { const w = window.open("", "puce-agent"); const h = w.location.href; w.close(); return h; } catch (e) { return "cross-origin"; } })())`, &popup)
		if popup != "about:blank" {
			t.Fatalf("%s: the agent's window went to %q", name, popup)
		}
		// Blocked popups: no link to the prompt either.
		p.ok("(window.open = () => null, true)", nil)
		p.ok(`(window.links = [], new MutationObserver((ms) => ms.forEach((m) => m.addedNodes.forEach((n) => n.id === "puce-agent-link" && window.links.push(n.getAttribute("href"))))).observe(document.body, {childList: true}), true)`, nil)
		p.refused(`puce.login("card")`, "CardAgentError", nil)
		var links []string
		p.ok(`Promise.resolve(window.links)`, &links)
		if len(links) != 0 {
			t.Fatalf("%s: the client offered a link to %q", name, links)
		}
		t.Logf("%s: %s", name, o.Error.Message)
	}
}
