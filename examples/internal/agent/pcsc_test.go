//go:build cgo

package agent

import (
	"context"
	"testing"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A PC/SC context of a service that stopped or restarted stays dead: every
// call on it fails (pcsc-lite: SCARD_E_NO_SERVICE, or ErrClosed once
// closed). The source must start a new one. It did only when listing the
// readers failed, which a source with a named reader (cardagent -reader)
// never does: connecting failed on every request until the agent was
// restarted. The dead context is played by the source's own, closed.
func TestPCSCRecoversFromDeadContext(t *testing.T) {
	pc := pcscdtest.Require(t)
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pcscdtest.Attach(t, pc, card.Card, nil)
	p := &PCSC{Reader: pcscdtest.Reader}
	t.Cleanup(func() { p.Close() })
	ctx := context.Background()
	op := func(ctx context.Context, tr apdu.Transport) error {
		_, err := piv.Open(ctx, tr, nil)
		return err
	}
	if err := p.Do(ctx, op); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ctx.Close()
	p.mu.Unlock()
	if err := p.Do(ctx, op); err != nil {
		t.Fatalf("after the service's context died: %v", err)
	}
}
