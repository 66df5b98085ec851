//go:build cgo

package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// waitingPad is a PIN pad on which nobody types: the reader waits until
// the request's context ends, and, like pcsc (the PC/SC call cannot be
// interrupted; Card.Close waits for it), the operation returns only when
// the reader gives up, when the test says so.
type waitingPad struct {
	padReader
	entered  chan struct{}
	giveUp   chan struct{}
	once     sync.Once
	giveOnce sync.Once
}

func (r *waitingPad) VerifyOnPINPad(ctx context.Context, req apdu.PINPadRequest) error {
	r.once.Do(func() { close(r.entered) })
	<-ctx.Done()
	<-r.giveUp
	return fmt.Errorf("pcsc: verify PIN on the PIN pad: %w (%w)", pcsc.ErrCancelled, context.Cause(ctx))
}

// The holder presses Log in (PIN pad), then Cancel in the same window
// before typing on the reader. The browser abandons the first post for the
// second, so the operation is cut off, but the reader still waits: the
// Cancel arrived while the first answer was still at the card, and was
// dropped; the request stayed open, and the window then said "You pressed
// Cancel on the reader. Press the button to try again", which the holder
// did not do. The holder's Cancel ends the request, as the window says.
func TestCancelWhilePINPadWaits(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reader := &waitingPad{padReader: padReader{Transport: card.Card}, entered: make(chan struct{}), giveUp: make(chan struct{})}
	giveUp := func() { reader.giveOnce.Do(func() { close(reader.giveUp) }) }
	a, err := New(Config{Allowed: []string{site}, Source: &InProcess{Transport: reader, Name: "reader with PIN pad"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(giveUp)
	a.SetSelf(srv.URL)
	ts := srv.URL
	code, m := call(t, "POST", ts+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id, prompt := m["id"].(string), m["prompt"].(string)
	_, page, _ := getPage(t, prompt)
	csrf := csrfRE.FindStringSubmatch(page)[1]
	post := func(ctx context.Context, vals url.Values) (*http.Response, error) {
		vals.Set("csrf", csrf)
		req, _ := http.NewRequestWithContext(ctx, "POST", prompt, strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", ts)
		return http.DefaultClient.Do(req)
	}
	ctx, abandon := context.WithCancel(context.Background())
	first := make(chan struct{})
	go func() {
		defer close(first)
		if resp, err := post(ctx, url.Values{"action": {"approve"}, "pinpad": {"yes"}}); err == nil {
			resp.Body.Close()
		}
	}()
	<-reader.entered
	abandon() // the browser leaves the first post for the Cancel
	resp, err := post(context.Background(), url.Values{"action": {"cancel"}})
	if err != nil {
		t.Fatal(err)
	}
	page = readAll(resp)
	giveUp() // the reader's timeout
	<-first
	if _, m = call(t, "GET", ts+"/v1/requests/"+id, site, ""); m["status"] != "cancelled" {
		t.Fatalf("after the holder's Cancel the site reads %v; the window said:\n%s", m, page)
	}
	if _, page, _ = getPage(t, prompt); !strings.Contains(page, "Cancelled") || strings.Contains(page, "on the reader") {
		t.Fatalf("the window after the holder's Cancel:\n%s", page)
	}
}
