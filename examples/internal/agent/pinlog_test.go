package agent

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A PIN reaches the card and nothing else: not the agent's log (at debug
// level), not a page of the holder's window, not the site's poll, whether
// the PIN is right, wrong, malformed, or the card fails the command that
// carries it (OWASP ASVS 4.0.3 V7.1.1: no credentials in logs; DESIGN.md:
// a PIN is never logged).
func TestPINNeverLoggedOrShown(t *testing.T) {
	// A PIN no certificate or identifier on the card contains.
	card, err := testcard.New(testcard.Options{PIN: "70429135"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{mu: make(chan struct{}, 1)}
	a, err := New(Config{Allowed: []string{site}, Source: &InProcess{Transport: card.Card, Name: "test"},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	a.SetSelf(srv.URL)
	ts := srv.URL
	const wrong, short = "97531864", "8642"
	var seen []string // every page and poll answer
	poll := func(id string) {
		_, m := call(t, "GET", ts+"/v1/requests/"+id, site, "")
		b, _ := json.Marshal(m)
		seen = append(seen, string(b))
	}

	// Login: malformed, wrong, right.
	_, m := call(t, "POST", ts+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	id, prompt := m["id"].(string), m["prompt"].(string)
	for _, pin := range []string{short, wrong, card.PIN} {
		seen = append(seen, answer(t, prompt, ts, url.Values{"action": {"approve"}, "pin": {pin}}))
		poll(id)
	}
	// Sign: the card fails the VERIFY that carries the PIN.
	doc := []byte("Contract: 1000 EUR\n")
	body, _ := json.Marshal(map[string]string{"kind": "sign", "name": "c.txt", "document": base64.StdEncoding.EncodeToString(doc)})
	_, m = call(t, "POST", ts+"/v1/requests", site, string(body))
	id, prompt = m["id"].(string), m["prompt"].(string)
	answer(t, prompt, ts, url.Values{"action": {"approve"}})
	p, _ := esign.Prepare(doc, card.SignCert, time.Now())
	body, _ = json.Marshal(map[string]string{"signedAttributes": base64.StdEncoding.EncodeToString(p.SignedAttributes)})
	if code, m := call(t, "POST", ts+"/v1/requests/"+id+"/attributes", site, string(body)); code != http.StatusOK {
		t.Fatalf("attributes: %d %v", code, m)
	}
	if err := card.Inject(virtual.Fault{SW: 0x6F00, Match: func(c apdu.Command) bool { return c.INS == 0x20 && len(c.Data) > 0 }}); err != nil {
		t.Fatal(err)
	}
	seen = append(seen, answer(t, prompt, ts, url.Values{"action": {"approve"}, "pin": {card.PIN}}))
	poll(id)

	all := strings.Join(seen, "\n")
	for _, pin := range []string{short, wrong, card.PIN} {
		if strings.Contains(logs.String(), pin) {
			t.Errorf("the log holds the PIN %s:\n%s", pin, logs)
		}
		if i := strings.Index(all, pin); i >= 0 {
			t.Errorf("a page or poll answer holds the PIN %s: …%s…", pin, all[max(0, i-200):min(len(all), i+100)])
		}
	}
	if !strings.Contains(logs.String(), "card operation failed") {
		t.Fatalf("the failing VERIFY was not logged, so the test checked nothing there:\n%s", logs)
	}
}
