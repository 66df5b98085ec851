//go:build cgo

package agent

import (
	"testing"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestIdentityDisclosurePCSC runs the identity flow with the agent's PC/SC
// source, the card in pcscd's virtual reader: what a holder with a real
// reader gets.
func TestIdentityDisclosurePCSC(t *testing.T) {
	pc := pcscdtest.Require(t)
	ts, passport, logs := setupIdentityWith(t, func(card *testcard.Card) Source {
		pcscdtest.Attach(t, pc, card.Card, nil)
		p := &PCSC{Reader: pcscdtest.Reader}
		t.Cleanup(func() { p.Close() })
		return p
	})
	identityDisclosure(t, ts, passport, logs)
	t.Logf("puce: the card agent read the identity document through pcscd (%s) with the CAN, refused a wrong CAN first, and sent the holder's choice (DG1, DG2), which passed passive authentication", pcscdtest.Reader)
}
