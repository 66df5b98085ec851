//go:build cgo

package pcscdtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/puce-id/puce/internal/vpcdlock"
	"github.com/puce-id/puce/pcsc"
	"github.com/puce-id/puce/pcsc/virtual"
)

// Require returns a PC/SC context on the test's pcscd, skipping without
// PUCE_PCSCD and failing when it promises a stack that is not there.
func Require(t testing.TB) *pcsc.Context {
	t.Helper()
	if !Wanted() {
		t.Skipf("SKIPPING %s: PUCE_PCSCD is unset (make test starts pcscd)", t.Name())
	}
	ctx := context.Background()
	pc, err := pcsc.Establish(ctx)
	if err != nil {
		t.Fatalf("PUCE_PCSCD=1 but pcscd cannot be reached: %v", err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	readers, err := pc.Readers(ctx)
	if err != nil || !slices.Contains(readers, Reader) {
		t.Fatalf("PUCE_PCSCD=1 but pcscd lists no %q (readers %q, %v): is vsmartcard-vpcd installed?", Reader, readers, err)
	}
	return pc
}

// Attach puts card into the vpcd reader until the test ends, waits until
// pcscd sees it, and connects to it. The returned pcsc.Card is an
// apdu.Transport through pcscd.
func Attach(t testing.TB, pc *pcsc.Context, card *virtual.Card, opts *pcsc.ConnectOptions) *pcsc.Card {
	t.Helper()
	Insert(t, pc, card)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pc.Connect(ctx, Reader, opts)
	if err != nil {
		t.Fatalf("connect to %q: %v", Reader, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Insert puts card into the vpcd reader until the test ends and waits until
// pcscd sees it, without connecting: for tests that hand the reader to
// other programs (PIV middleware), which must find it free.
func Insert(t testing.TB, pc *pcsc.Context, card *virtual.Card) {
	t.Helper()
	vpcdlock.Lock(t, Port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = (&virtual.Bridge{Card: card, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		// Leave the reader empty for the next test.
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer wcancel()
		_ = pc.WaitForRemoval(wctx, Reader)
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if _, err := pc.WaitForCard(wctx, Reader); err != nil {
		t.Fatalf("the virtual card did not show in %q: %v", Reader, err)
	}
}
