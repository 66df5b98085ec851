package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// holdingReader is a reader whose PIN pad, once armed, keeps the card
// until the test lets it go, once: the holder of one window is typing on the
// reader (pcsc holds the card for up to pinPadTimeout meanwhile).
type holdingReader struct {
	padReader
	armed   chan struct{} // closed to arm
	entered chan struct{} // closed when the armed PIN pad holds the card
	release chan struct{}
	once    sync.Once
}

func (r *holdingReader) VerifyOnPINPad(ctx context.Context, req apdu.PINPadRequest) error {
	select {
	case <-r.armed:
		r.once.Do(func() { close(r.entered); <-r.release })
	default:
	}
	return r.padReader.VerifyOnPINPad(ctx, req)
}

// within runs f and fails the test when it has not returned after a
// minute: the agent stalled behind the other window's card operation.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s stalls while another window's PIN pad holds the card", what)
	}
}

// Two windows, one card. While the holder types a PIN on the reader for
// one request (the card held for up to a minute), the other window's page
// loads at once, saying the card is busy and offering no PIN field until
// the card is free (asking for the tries left and the PIN pad needs it), and
// its PIN answer comes back at once saying the card is busy, without a PIN
// try spent or the request ended; once the first is done, the second goes
// through. Before, both waited for the PIN pad (the InProcess lock here,
// pcsc-lite's one mutex per PC/SC context and the card's transaction on a
// reader), the holder seeing a window that does not load.
func TestOtherWindowDoesNotStallBehindPINPad(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reader := &holdingReader{padReader: padReader{Transport: card.Card, typed: card.PIN},
		armed: make(chan struct{}), entered: make(chan struct{}), release: make(chan struct{})}
	a, err := New(Config{Allowed: []string{site}, Source: &InProcess{Transport: reader, Name: "reader with PIN pad"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	var let sync.Once
	letGo := func() { let.Do(func() { close(reader.release) }) }
	t.Cleanup(letGo) // before srv.Close, which waits for the held request
	a.SetSelf(srv.URL)
	ts := srv.URL
	create := func() (string, string) {
		code, m := call(t, "POST", ts+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		return m["id"].(string), m["prompt"].(string)
	}
	idA, promptA := create()
	idB, promptB := create()
	_, pageB, _ := getPage(t, promptB)
	csrfB := csrfRE.FindStringSubmatch(pageB)[1]

	close(reader.armed)
	doneA := make(chan string)
	go func() { doneA <- answer(t, promptA, ts, url.Values{"action": {"approve"}, "pinpad": {"yes"}}) }()
	<-reader.entered

	within(t, "the other window's page", func() {
		// Not knowing whether the reader has a PIN pad, the window must
		// not offer a PIN field (the PIN would cross the host although the
		// reader has keys for it): it says the card is busy and reloads.
		code, page, _ := getPage(t, promptB)
		if code != http.StatusOK || !strings.Contains(page, `id="agent-busy"`) || strings.Contains(page, `name="pin"`) ||
			!strings.Contains(page, `content="reload"`) || !strings.Contains(page, `id="agent-cancel"`) {
			t.Errorf("the other window while the card is held: %d\n%s", code, page)
		}
	})
	within(t, "the other window's PIN answer", func() {
		req, _ := http.NewRequest("POST", promptB, strings.NewReader(url.Values{"action": {"approve"}, "pinpad": {"yes"}, "csrf": {csrfB}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", ts)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		page := readAll(resp)
		if !strings.Contains(page, `id="agent-notice"`) || !strings.Contains(page, "busy") || strings.Contains(page, `id="agent-done"`) {
			t.Errorf("the other window's answer while the card is held:\n%s", page)
		}
	})
	if reader.asked != 0 {
		t.Fatalf("the PIN pad was asked %d times while held", reader.asked)
	}
	letGo()
	<-doneA
	if _, page, _ := getPage(t, promptB); !strings.Contains(page, `id="pinpad"`) || strings.Contains(page, `id="agent-busy"`) {
		t.Fatalf("the other window once the card is free:\n%s", page)
	}
	answer(t, promptB, ts, url.Values{"action": {"approve"}, "pinpad": {"yes"}})
	for _, id := range []string{idA, idB} {
		if _, m := call(t, "GET", ts+"/v1/requests/"+id, site, ""); m["status"] != "done" {
			t.Fatalf("request %s: %v", id, m)
		}
	}
	c, err := piv.Open(context.Background(), card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.PINStatus(context.Background()); err != nil || st.TriesLeft != 3 {
		t.Fatalf("PIN status %+v, %v: a try was spent", st, err)
	}
}
