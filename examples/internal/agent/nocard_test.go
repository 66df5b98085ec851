//go:build cgo

package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/puce-id/puce/examples/internal/web"
	"github.com/puce-id/puce/pcsc"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// laterCard is a reader with a PIN pad whose card the holder has not put
// in yet.
type laterCard struct {
	InProcess
	inserted atomic.Bool
}

func (s *laterCard) Do(ctx context.Context, fn func(ctx context.Context, t apdu.Transport) error) error {
	if !s.inserted.Load() {
		return fmt.Errorf("pcsc: list readers: %w", pcsc.ErrNoCard)
	}
	return s.InProcess.Do(ctx, fn)
}

// The holder's window opens before the card is in the reader. Whether the
// reader has a PIN pad is then unknown, and a PIN field would have the
// holder type on the computer a PIN that the reader's keys keep from it
// (DESIGN.md: PIN pad readers, so the PIN never reaches the host): the
// window asks for the card and waits; once the card is in, it sends the
// holder to the PIN pad.
func TestNoCardYetNoPINField(t *testing.T) {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &laterCard{InProcess: InProcess{Transport: &padReader{Transport: card.Card}, Name: "reader with PIN pad"}}
	a, err := New(Config{Allowed: []string{site}, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	a.SetSelf(srv.URL)
	code, m := call(t, "POST", srv.URL+"/v1/requests", site, `{"kind":"authenticate","nonce":"`+web.Token(32)+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	prompt := m["prompt"].(string)
	_, page, _ := getPage(t, prompt)
	if strings.Contains(page, `name="pin"`) || !strings.Contains(page, `id="agent-nocard"`) || !strings.Contains(page, `content="reload"`) {
		t.Fatalf("the window with no card in the reader:\n%s", page)
	}
	src.inserted.Store(true)
	if _, page, _ = getPage(t, prompt); !strings.Contains(page, `id="pinpad"`) || strings.Contains(page, `name="pin"`) {
		t.Fatalf("the window once the card is in:\n%s", page)
	}
}
