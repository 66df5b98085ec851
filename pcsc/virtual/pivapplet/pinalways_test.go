package pivapplet_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestPINAlwaysSpendsOnlyItsOwnStatus: the digital signature key 9C has the
// access rule "PIN Always" (SP 800-73-4 Part 1 Table 4b), the
// authentication key 9A "PIN". A VERIFY lets one 9C operation through, the
// one right after it; the PIN's own security status outlives it, so 9A
// still signs and an empty VERIFY still answers 9000, as OpenSC's PIV
// driver expects. A 9C signature with any command between it and the
// VERIFY (a 9A signature, GET DATA, an empty VERIFY, SELECT) is refused,
// and VERIFY P1 = FF forgets everything.
func TestPINAlwaysSpendsOnlyItsOwnStatus(t *testing.T) {
	ctx := context.Background()
	tc, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	send := func(cmd apdu.Command) uint16 {
		t.Helper()
		r, err := (&apdu.Client{Transport: tc.Card}).Send(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return r.SW
	}
	d := sha256.Sum256([]byte("PIN Always"))
	sign := func(slot byte) uint16 {
		return send(apdu.Command{INS: 0x87, P1: pivapplet.AlgECCP256, P2: slot, Data: append([]byte{0x7C, 0x24, 0x82, 0x00, 0x81, 0x20}, d[:]...), Ne: 256})
	}
	verify := func() uint16 {
		return send(apdu.Command{INS: 0x20, P2: 0x80, Data: append([]byte(tc.PIN), 0xFF, 0xFF)})
	}
	status := func() uint16 { return send(apdu.Command{INS: 0x20, P2: 0x80}) }
	const (
		ok     = apdu.SWOK
		denied = apdu.SWSecurityStatus
	)
	if sw := send(apdu.Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256}); sw != ok {
		t.Fatalf("SELECT: %04X", sw)
	}
	for i, step := range []struct {
		name string
		do   func() uint16
		want uint16
	}{
		{"9C before any VERIFY", func() uint16 { return sign(0x9C) }, denied},
		{"VERIFY", verify, ok},
		{"9C right after it", func() uint16 { return sign(0x9C) }, ok},
		{"PIN status after 9C", status, ok},
		{"9A after 9C", func() uint16 { return sign(0x9A) }, ok},
		{"9C again without VERIFY", func() uint16 { return sign(0x9C) }, denied},
		{"9A after the refused 9C", func() uint16 { return sign(0x9A) }, ok},
		{"VERIFY", verify, ok},
		{"9A between VERIFY and 9C", func() uint16 { return sign(0x9A) }, ok},
		{"9C after 9A", func() uint16 { return sign(0x9C) }, denied},
		{"VERIFY", verify, ok},
		{"GET DATA between VERIFY and 9C", func() uint16 {
			return send(apdu.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: []byte{0x5C, 0x03, 0x5F, 0xC1, 0x02}, Ne: 256})
		}, ok},
		{"9C after reading an object", func() uint16 { return sign(0x9C) }, denied},
		{"VERIFY", verify, ok},
		{"empty VERIFY between VERIFY and 9C", status, ok},
		{"9C after the empty VERIFY", func() uint16 { return sign(0x9C) }, denied},
		{"VERIFY", verify, ok},
		{"SELECT between VERIFY and 9C", func() uint16 {
			return send(apdu.Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256})
		}, ok},
		{"9C after the SELECT", func() uint16 { return sign(0x9C) }, denied},
		{"VERIFY", verify, ok},
		{"9C right after it, again", func() uint16 { return sign(0x9C) }, ok},
		{"VERIFY", verify, ok},
		{"VERIFY P1=FF", func() uint16 { return send(apdu.Command{INS: 0x20, P1: 0xFF, P2: 0x80}) }, ok},
		{"9C after the reset", func() uint16 { return sign(0x9C) }, denied},
		{"9A after the reset", func() uint16 { return sign(0x9A) }, denied},
		{"PIN status after the reset", status, 0x63C3},
	} {
		if sw := step.do(); sw != step.want {
			t.Fatalf("step %d, %s: %04X, want %04X", i, step.name, sw, step.want)
		}
	}
}
