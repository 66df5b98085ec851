package emrtd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

// g1Chip plays the chip of ICAO 9303-11 Appendix G.1 and lets a test
// replace its answer to the mapping (step 2) or key agreement (step 3)
// GENERAL AUTHENTICATE; it counts the commands it got.
type g1Chip struct {
	t       *testing.T
	mapping func(cmdPoint []byte) []byte // PK_map,IC to answer
	agree   func(cmdPoint []byte) []byte // PK_DH,IC to answer
	n       int
}

func (c *g1Chip) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	c.n++
	gaPoint := func() []byte {
		v, err := apdu.FindPath(cmd[5:len(cmd)-1], 0x7C)
		if err != nil {
			c.t.Fatalf("GENERAL AUTHENTICATE %X: %v", cmd, err)
		}
		in, _, _ := apdu.DecodeTLV(v.Value)
		return in.Value
	}
	answer := func(tag apdu.Tag, v []byte) []byte {
		b, _ := apdu.AppendTLV(nil, tag, v)
		b, _ = apdu.AppendTLV(nil, 0x7C, b)
		return append(b, 0x90, 0x00)
	}
	switch c.n {
	case 1:
		return []byte{0x90, 0x00}, nil
	case 2:
		return answer(0x80, h(c.t, "95A3A016522EE98D01E76CB6B98B42C3")), nil
	case 3:
		pk := h(c.t, "04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54")
		if c.mapping != nil {
			pk = c.mapping(gaPoint())
		}
		return answer(0x82, pk), nil
	case 4:
		pk := h(c.t, "049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094")
		if c.agree != nil {
			pk = c.agree(gaPoint())
		}
		return answer(0x84, pk), nil
	}
	c.t.Fatalf("command %d after a bad chip answer: %X", c.n, cmd)
	return nil, nil
}

// The terminal's checks in PACE generic mapping (ICAO 9303-11 §4.4.3.3,
// §4.4.1 d; BSI TR-03110-2 §3.2, TR-03111 §4.3.2.2 public key validation):
// a chip public key that is not an uncompressed point of the curve, the
// mapped generator at infinity, or an ephemeral key equal to the
// terminal's own ends PACE with ErrProtocol before the terminal sends its
// authentication token — which would let a chip test password guesses
// offline against it.
func TestPACEChipKeyChecks(t *testing.T) {
	info := PACEInfo{Protocol: oidPACEECDHGMAES128, Version: 2, ParameterID: 13}
	key := MRZKey{DocumentNumber: "T22000129", DateOfBirth: "640812", DateOfExpiry: "101031"}
	curve, _ := paceCurve(13)
	p := curve.Params()
	good := h(t, "04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54")
	offCurve := bytes.Clone(good)
	offCurve[64] ^= 1
	// A coordinate equal to p is no field element, though it reduces to 0.
	fieldP := encodePoint(p.P, p.Gy, 32)
	// PK_map,IC = -(s / SK_map,IFD)·G, so that H = -s·G and the mapped
	// generator s·G + H is the point at infinity; the chip knows the
	// terminal's SK_map here because the test fixes its randomness.
	s := new(big.Int).SetBytes(h(t, "3F00C4D39D153F2B2A214A078D899B22"))
	skMap := new(big.Int).SetBytes(h(t, "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99"))
	k := new(big.Int).Mul(s, new(big.Int).ModInverse(skMap, p.N))
	k.Neg(k).Mod(k, p.N)
	ix, iy := curve.ScalarBaseMult(k.Bytes())
	toInfinity := encodePoint(ix, iy, 32)

	for name, chip := range map[string]*g1Chip{
		"mapping key off the curve":       {mapping: func([]byte) []byte { return offCurve }},
		"mapping key compressed":          {mapping: func([]byte) []byte { return append([]byte{0x02}, good[1:33]...) }},
		"mapping key of 64 bytes":         {mapping: func([]byte) []byte { return good[1:] }},
		"mapping key infinity (00)":       {mapping: func([]byte) []byte { return []byte{0x00} }},
		"mapping key with x = p":          {mapping: func([]byte) []byte { return fieldP }},
		"mapped generator at infinity":    {mapping: func([]byte) []byte { return toInfinity }},
		"ephemeral key off the curve":     {agree: func([]byte) []byte { return offCurve }},
		"ephemeral key echoed":            {agree: func(ours []byte) []byte { return bytes.Clone(ours) }},
		"ephemeral key empty":             {agree: func([]byte) []byte { return nil }},
		"ephemeral key of 129 bytes":      {agree: func([]byte) []byte { return append(bytes.Clone(good), 0) }},
		"ephemeral key point (0, 0) form": {agree: func([]byte) []byte { return append([]byte{0x04}, make([]byte, 64)...) }},
	} {
		chip.t = t
		rnd := bytes.NewReader(h(t, "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99 A73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595"))
		_, err := PACE(context.Background(), chip, key, info, rnd)
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
		if name == "mapped generator at infinity" && !strings.Contains(fmt.Sprint(err), "mapped generator at infinity") {
			t.Errorf("%s: failed for another reason: %v", name, err)
		}
	}
}
