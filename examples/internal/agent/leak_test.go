package agent

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// internalDetail is what a page must not read in an error: package names,
// status words, Go error chains.
var internalDetail = regexp.MustCompile(`(?i)\b(piv|apdu|cardauth|pcsc|emrtd|x509|asn1)\b|:.*:|[0-9A-F]{4}\b|\bstatus\b`)

// A card failure reaches the page as a plain sentence: the page is another
// party, and the error chain of the card's client (package names, status
// words, the reader's name) tells it about the holder's computer and card
// and helps it probe them (OWASP ASVS 4.0.3 V7.4.1: errors show no internal
// detail). The detail goes to the agent's log.
func TestCardErrorsLeakNoDetailToThePage(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The card fails the signature (GENERAL AUTHENTICATE) with 6F00.
	if err := card.Inject(virtual.Fault{SW: 0x6F00, Match: func(c apdu.Command) bool { return c.INS == 0x87 }}); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Allowed: []string{site}, Source: &InProcess{Transport: card.Card, Name: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	a.SetSelf(ts.URL)
	code, m := call(t, "POST", ts.URL+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	answer(t, prompt, ts.URL, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	_, m = call(t, "GET", ts.URL+"/v1/requests/"+id, site, "")
	msg, _ := m["error"].(string)
	if m["status"] != "failed" || msg == "" {
		t.Fatalf("poll: %v", m)
	}
	if internalDetail.MatchString(msg) {
		t.Fatalf("the page reads internal detail: %q", msg)
	}
	t.Logf("the page reads: %q", msg)
}
