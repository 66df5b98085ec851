//go:build cgo

package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// resetOnce is a card that another program resets in the middle of the
// agent's next operation, as pcsc reports it (SCARD_W_RESET_CARD).
type resetOnce struct {
	InProcess
	armed atomic.Bool
}

func (s *resetOnce) Do(ctx context.Context, fn func(ctx context.Context, t apdu.Transport) error) error {
	if s.armed.CompareAndSwap(true, false) {
		return fmt.Errorf("pcsc: transmit: %w; reconnected and re-selected, start the operation again", pcsc.ErrCardReset)
	}
	return s.InProcess.Do(ctx, fn)
}

// A PIN command interrupted by another program's reset is not sent again
// (package pcsc: a PIN try is never spent behind the holder's back); the
// holder is asked again in the same window instead of having to start over
// from the site.
func TestResetByAnotherProgramAsksAgain(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &resetOnce{InProcess: InProcess{Transport: card.Card, Name: "test"}}
	a, err := New(Config{Allowed: []string{site}, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	a.SetSelf(srv.URL)
	ts := srv.URL
	code, m := call(t, "POST", ts+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	_, form, _ := getPage(t, prompt) // the prompt asks the card for the tries left
	csrf := csrfRE.FindStringSubmatch(form)[1]
	src.armed.Store(true)
	req, _ := http.NewRequest("POST", prompt, strings.NewReader(url.Values{"action": {"approve"}, "pin": {card.PIN}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, page, _ := getPage(t, prompt); !strings.Contains(page, `name="pin"`) || !strings.Contains(page, "reset") {
		t.Fatalf("after a reset by another program the window does not ask again:\n%s", page)
	}
	answer(t, prompt, ts, url.Values{"action": {"approve"}, "pin": {card.PIN}})
	if _, m = call(t, "GET", ts+"/v1/requests/"+id, site, ""); m["status"] != "done" {
		t.Fatalf("poll: %v", m)
	}
}
