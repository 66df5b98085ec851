package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// gate is a card source whose first operation, once armed, waits until the
// test lets it go: the card is busy with the holder's first answer when the
// second one arrives.
type gate struct {
	InProcess
	armed   atomic.Bool
	calls   atomic.Int32
	release chan struct{}
}

func (g *gate) Do(ctx context.Context, fn func(ctx context.Context, t apdu.Transport) error) error {
	if g.armed.Load() && g.calls.Add(1) == 1 {
		<-g.release
	}
	return g.InProcess.Do(ctx, fn)
}

// One answer of the holder is one PIN try. A form posted twice (a double
// click on the button, Enter pressed twice) must not verify the PIN twice:
// two wrong tries would pass the card's last try without the holder's
// confirmation (piv.ErrLastTry) and could block the card, against "never
// retried automatically" (DESIGN.md, Cards and readers); for a signature, a
// second post would have the card sign twice on one consent.
func TestDoublePostIsOnePINTry(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{InProcess: InProcess{Transport: card.Card, Name: "test"}, release: make(chan struct{})}
	a, err := New(Config{Allowed: []string{site}, Source: g})
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
	prompt := m["prompt"].(string)
	resp, err := http.Get(prompt)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := csrfRE.FindStringSubmatch(string(page))[1]
	form := url.Values{"action": {"approve"}, "pin": {"000000"}, "csrf": {csrf}}.Encode()
	post := func() {
		req, _ := http.NewRequest("POST", prompt, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", ts.URL)
		// Not followed: the redirected prompt would ask the card too.
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}

	g.armed.Store(true)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); post() }()
	for g.calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan struct{})
	go func() { defer wg.Done(); post(); close(second) }()
	// The second post either comes back at once (the agent saw the request
	// busy) or reaches the card.
	for g.calls.Load() < 2 {
		select {
		case <-second:
		case <-time.After(time.Millisecond):
			continue
		}
		break
	}
	close(g.release)
	wg.Wait()

	c, err := piv.Open(context.Background(), card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.PINStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.TriesLeft != 2 {
		t.Fatalf("one answer posted twice left %d PIN tries, want 2 (the PIN was verified %d times)", st.TriesLeft, 3-st.TriesLeft)
	}
}
