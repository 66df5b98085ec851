package browsertest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/puce-id/puce/examples/internal/agent"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// The holder's window is cut off from the site that opened it. The site's
// page opens it as a popup (it must, to open it within the click) and so
// holds a WindowProxy for it: without Cross-Origin-Opener-Policy it could,
// once the holder has seen 127.0.0.1 in the address bar, navigate that
// window to a look-alike PIN prompt of its own (HTML §7.4.2.3 allows a
// cross-origin navigation by the opener), or find it again by its name.
// With "Cross-Origin-Opener-Policy: same-origin" on the agent's pages the
// browser puts the window in a browsing context group of its own (HTML
// §7.1.3.1): the site's handle reports the window closed, navigating
// through it does nothing, the name "puce-agent" no longer finds it, and
// the window's own window.opener is null. The agent's window still closes
// itself once the request has its outcome.
func TestAgentWindowCutOffFromOpener(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bank, bh := listen(t)
	bh.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>bank</title>`))
	}))
	phish, ph := listen(t)
	var phished atomic.Int32
	ph.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		phished.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>phish</title>`))
	}))
	site := localhost(bank) // another site than the agent's 127.0.0.1
	a, err := agent.New(agent.Config{Allowed: []string{site}, Source: &agent.InProcess{Transport: card.Card, Name: "test card"}})
	if err != nil {
		t.Fatal(err)
	}
	ag := httptest.NewServer(a.Handler())
	t.Cleanup(ag.Close)
	a.SetSelf(ag.URL)

	p := newBrowser(t)
	p.do(chromedp.Navigate(site + "/"))
	// As agent.js and puce.js do: a blank popup opened in the click, then
	// pointed at the prompt the agent names.
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.w = window.open("about:blank", "puce-agent", "popup,width=560,height=720"), true)`, userGesture))
	cancel()
	if err != nil {
		t.Fatalf("opening the window: %v", err)
	}
	prompt := p.value(`fetch("` + ag.URL + `/v1/requests", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({kind: "authenticate", nonce: "` + strings.Repeat("A", 43) + `"})}).then(r => r.json()).then(j => { window.w.location.href = j.prompt; return j.prompt; })`)
	if !strings.HasPrefix(prompt, ag.URL+"/prompt/") {
		t.Fatalf("prompt %q", prompt)
	}
	win := p.popup(prompt)
	closed := "false"
	deadline := time.Now().Add(20 * time.Second)
	for closed != "true" && time.Now().Before(deadline) {
		if closed = p.value(`window.w.closed`); closed != "true" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if closed != "true" {
		t.Fatal("the site's handle still reaches the agent's window (Cross-Origin-Opener-Policy missing?)")
	}
	// Through its old handle and by the window's name, the site tries to
	// put a page of its own into the agent's window.
	p.value(`(window.w.location.href = "` + phish.URL + `/handle", true)`)
	p.value(`(window.open("` + phish.URL + `/by-name", "puce-agent"), true)`)
	// What DevTools says of the window (Target.TargetInfo): no access to
	// its opener, that is window.opener === null, and still the prompt.
	info := p.targetInfo(prompt)
	if info == nil {
		t.Fatal("the site navigated the agent's window away from the prompt")
	}
	if info.CanAccessOpener {
		t.Fatal("the agent's window can reach its opener (window.opener is set)")
	}
	if n := phished.Load(); n > 1 {
		t.Fatalf("the site's page was loaded %d times: into the agent's window?", n)
	}
	// The window still closes itself at the end (prompt.js). The holder
	// cancels (the test posts the window's own form: under chromedp v0.23
	// headless Chromium answers DOM and Runtime commands in a popup that
	// changed browsing context group with no result), and the window,
	// reloaded, shows the outcome and closes.
	resp, err := http.Get(prompt)
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(form)
	if m == nil {
		t.Fatalf("no form in the prompt:\n%s", form)
	}
	req, _ := http.NewRequest("POST", prompt, strings.NewReader(url.Values{"action": {"cancel"}, "csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ag.URL)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	win.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdppage.Reload, cdppage.ReloadParams{})
		return err
	}))
	deadline = time.Now().Add(20 * time.Second)
	for p.findTarget(prompt) != "" {
		if time.Now().After(deadline) {
			t.Fatal("the agent's window did not close itself after the request ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("phish server was asked %d times (the named window opened as a new one)", phished.Load())
}

// value evaluates expr (a value or a promise) in p and returns it as a
// string.
func (p *page) value(expr string) string {
	p.b.t.Helper()
	got := p.await(expr)
	if !strings.HasPrefix(got, "OK ") {
		p.fail("%s: %s", expr, got)
	}
	return strings.TrimPrefix(got, "OK ")
}

// findTarget returns the ID of the page target showing url, or "".
func (p *page) findTarget(url string) target.ID {
	if ti := p.targetInfo(url); ti != nil {
		return ti.TargetID
	}
	return ""
}

// targetInfo describes the page target showing url, or is nil.
func (p *page) targetInfo(url string) *target.Info {
	p.b.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	ts, err := chromedp.Targets(ctx)
	if err != nil {
		p.fail("listing targets: %v", err)
	}
	for _, ti := range ts {
		if ti.Type == "page" && ti.URL == url {
			return ti
		}
	}
	return nil
}

// popup attaches to the popup window showing url once it has loaded it.
// Only its Page domain answers (see the test).
func (p *page) popup(url string) *page {
	p.b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var id target.ID
	for id = p.findTarget(url); id == ""; id = p.findTarget(url) {
		if time.Now().After(deadline) {
			p.fail("no window shows %s", url)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, _ := chromedp.NewContext(p.ctx, chromedp.WithTargetID(id))
	w := &page{b: p.b, ctx: ctx, name: "agent popup"}
	return w
}
