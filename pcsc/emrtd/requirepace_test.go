package emrtd_test

import (
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// Options.RequirePACE: a chip that offers only BAC, or a PACE chip whose
// MSE:Set AT someone between it and the reader answers with a status word
// (which, without the option, gets BAC with the same MRZ), is refused with
// ErrPACERequired before any BAC command (GET CHALLENGE) is sent; a PACE
// chip opens with PACE as before.
func TestRequirePACE(t *testing.T) {
	require := &emrtd.Options{RequirePACE: true}
	getChallenge := func(c apdu.Command) bool { return c.INS == 0x84 }
	mseSetAT := func(c apdu.Command) bool { return c.INS == 0x22 && c.P1 == 0xC1 && c.P2 == 0xA4 }

	t.Run("BAC-only chip", func(t *testing.T) {
		f := newFixture(t, true, &emrtdapplet.Options{DisablePACE: true})
		if s, err := emrtd.Open(t.Context(), f.tr, f.key, nil); err != nil || s.Protocol() != emrtd.ProtocolBAC {
			t.Fatalf("without the option: %v", err)
		}
		if err := f.tr.card.Inject(virtual.Fault{SW: apdu.SWConditions, Match: getChallenge}); err != nil {
			t.Fatal(err)
		}
		if _, err := emrtd.Open(t.Context(), f.tr, f.key, require); !errors.Is(err, emrtd.ErrPACERequired) || !errors.Is(err, emrtd.ErrUnsupported) {
			t.Fatalf("with RequirePACE: %v, want ErrPACERequired (and no GET CHALLENGE sent)", err)
		}
	})
	t.Run("PACE turned down on the way", func(t *testing.T) {
		f := newFixture(t, true, nil)
		if err := f.tr.card.Inject(virtual.Fault{SW: apdu.SWWrongData, Match: mseSetAT}); err != nil {
			t.Fatal(err)
		}
		if s, err := emrtd.Open(t.Context(), f.tr, f.key, nil); err != nil || s.Protocol() != emrtd.ProtocolBAC {
			t.Fatalf("without the option: %v, want the BAC fallback", err)
		}
		if err := f.tr.card.Inject(virtual.Fault{SW: apdu.SWConditions, Match: getChallenge}); err != nil {
			t.Fatal(err)
		}
		if _, err := emrtd.Open(t.Context(), f.tr, f.key, require); !errors.Is(err, emrtd.ErrPACERequired) || !errors.Is(err, apdu.ErrWrongData) {
			t.Fatalf("with RequirePACE: %v, want ErrPACERequired naming the chip's answer", err)
		}
	})
	t.Run("PACE chip", func(t *testing.T) {
		f := newFixture(t, true, nil)
		if s, err := emrtd.Open(t.Context(), f.tr, f.key, require); err != nil || s.Protocol() != emrtd.ProtocolPACE {
			t.Fatalf("a PACE chip with RequirePACE: %v", err)
		}
	})
	t.Run("contradiction", func(t *testing.T) {
		f := newFixture(t, true, nil)
		if _, err := emrtd.Open(t.Context(), f.tr, f.key, &emrtd.Options{RequirePACE: true, DisablePACE: true}); !errors.Is(err, emrtd.ErrPACERequired) || f.tr.count.Load() != 0 {
			t.Fatalf("DisablePACE with RequirePACE: %v after %d APDUs", err, f.tr.count.Load())
		}
	})
}
