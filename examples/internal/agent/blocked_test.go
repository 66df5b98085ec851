package agent

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc/piv"
)

// The wrong PIN that spends the last try blocks the card (the card answers
// 63C0: ISO/IEC 7816-4 §10.1.3; NIST SP 800-73-4 Part 2 §3.2.1). The holder
// is told the card is now blocked and how to unblock it, and the request
// ends: the window must not say "0 tries left before the card blocks" and
// ask for the PIN again.
func TestLastWrongPINReportsBlocked(t *testing.T) {
	ts, card := setup(t)
	ctx := context.Background()
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c.VerifyPIN(ctx, "999999", &piv.VerifyOptions{AllowLastTry: true})
	}
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	page := answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {"000000"}, "last-try": {"yes"}})
	if strings.Contains(page, "0 tries left") || strings.Contains(page, `name="pin"`) {
		t.Fatalf("after the last wrong PIN the window asks again:\n%s", page)
	}
	_, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	if msg, _ := m["error"].(string); m["status"] != "failed" || !strings.Contains(msg, "blocked") {
		t.Fatalf("poll after the last wrong PIN: %v", m)
	}
}

// A card whose PIN is already blocked is shown as blocked before the
// holder types anything: the window asks for no PIN.
func TestBlockedPINShownBeforeTyping(t *testing.T) {
	ts, card := setup(t)
	ctx := context.Background()
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.VerifyPIN(ctx, "999999", &piv.VerifyOptions{AllowLastTry: true})
	}
	_, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	_, page, _ := getPage(t, m["prompt"].(string))
	if !strings.Contains(page, `id="pin-blocked"`) || strings.Contains(page, `name="pin"`) || strings.Contains(page, `id="agent-approve"`) {
		t.Fatalf("the window for a blocked card:\n%s", page)
	}
}
