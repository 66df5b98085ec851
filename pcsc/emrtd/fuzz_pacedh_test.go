package emrtd

import (
	"context"
	"errors"
	"math/big"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

// fuzzDHChip answers PACE's GENERAL AUTHENTICATE steps with the encrypted
// nonce of ICAO 9303-11 Appendix G.2 and then the fuzzer's bytes, as the
// value of the 7C template's 82, 84 and 86 objects.
type fuzzDHChip struct {
	answers [][]byte
	n       int
}

func (c *fuzzDHChip) Transmit(_ context.Context, _ []byte) ([]byte, error) {
	c.n++
	tags := []apdu.Tag{0, 0x80, 0x82, 0x84, 0x86}
	if c.n == 1 {
		return []byte{0x90, 0x00}, nil
	}
	if c.n > len(tags) {
		return []byte{0x6D, 0x00}, nil
	}
	v := c.answers[c.n-2]
	b, _ := apdu.AppendTLV(nil, tags[c.n-1], v)
	b, _ = apdu.AppendTLV(nil, 0x7C, b)
	return append(b, 0x90, 0x00), nil
}

// FuzzPACEDHChip runs the reader's PACE with DH generic mapping (parameter
// ID 0) against a chip whose public keys and token are the fuzzer's bytes:
// the DH public values (the key of the public key data object, 84 y) are
// outside data. The run must end in ErrProtocol or ErrAccessDenied, never a
// panic, and never succeed with a chip key outside the order-q subgroup.
// Seeds: the example's keys and hostile values (testdata/fuzz).
func FuzzPACEDHChip(f *testing.F) {
	f.Add(h(f, g2MapPKIC), h(f, g2EphPKIC), h(f, g2TIC))
	f.Add([]byte{1}, []byte{1}, []byte{})
	f.Fuzz(func(t *testing.T, mapping, agreement, token []byte) {
		chip := &fuzzDHChip{answers: [][]byte{h(t, g2EncNonce), mapping, agreement, token}}
		info := PACEInfo{Protocol: oidPACEDHGMAES128, Version: 2, ParameterID: 0}
		_, err := PACE(context.Background(), chip, g2Key(), info, nil)
		if err == nil {
			t.Fatal("PACE succeeded against a chip that cannot know the random keys")
		}
		if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrAccessDenied) {
			t.Fatalf("error %v is neither ErrProtocol nor ErrAccessDenied", err)
		}
	})
}

// FuzzDHPublicKey feeds a chip's public value to the validation of every
// MODP group: accepted values are subgroup members, and key agreement and
// mapping with them never panic.
func FuzzDHPublicKey(f *testing.F) {
	f.Add(byte(0), h(f, g2EphPKIC))
	f.Add(byte(0), []byte{0})
	f.Add(byte(1), []byte{1})
	f.Fuzz(func(t *testing.T, id byte, y []byte) {
		grp, ok := paceDHGroup(int(id % 3))
		if !ok {
			t.Fatal("group missing")
		}
		v, err := grp.decodeDHKey(y)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		if v.Cmp(big.NewInt(1)) <= 0 || v.Cmp(grp.p) >= 0 || new(big.Int).Exp(v, grp.q, grp.p).Cmp(big.NewInt(1)) != 0 {
			t.Fatalf("accepted %X outside the subgroup", y)
		}
		d := &dhPACE{grp: grp, gen: grp.g}
		if _, err := d.agree([]byte{7}, y); err != nil {
			t.Fatalf("agree with a valid key: %v", err)
		}
		if err := d.mapGeneric([]byte{1, 2, 3}, []byte{7}, y); err != nil {
			t.Fatalf("mapping with a valid key: %v", err)
		}
	})
}
