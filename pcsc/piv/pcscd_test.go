//go:build cgo

package piv_test

import (
	"testing"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// The pcscd tests reach pcscd through package pcsc, which needs cgo; the
// in-process suite runs without it.

func throughPCSCD(t testing.TB, tc *testcard.Card) apdu.Transport {
	return pcscdtest.Attach(t, pcscdtest.Require(t), tc.Card, nil)
}

// TestThroughPCSCD runs the same tests through the real PC/SC stack: pcscd,
// the vpcd driver and the virtual card attached over its socket.
func TestThroughPCSCD(t *testing.T) {
	pcscdtest.Require(t)
	for name, f := range suite() {
		t.Run(name, func(t *testing.T) { f(t, throughPCSCD) })
	}
	if !t.Failed() {
		t.Logf("puce: every PIV client test passed through pcscd (%d tests)", len(suite()))
	}
}
