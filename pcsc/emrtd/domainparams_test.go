package emrtd

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// explicitCardAccess is EF.CardAccess with a PACEInfo for
// id-PACE-DH-GM-AES-CBC-CMAC-128 naming parameterId id (none when id < 0)
// and a PACEDomainParameterInfo carrying p, g, q as dhpublicnumber (ICAO
// 9303-11 §9.2.1; RFC 3279 §2.3.3).
func explicitCardAccess(t *testing.T, id int, p, g, q *big.Int) []byte {
	t.Helper()
	type algID struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters struct{ P, G, Q *big.Int }
	}
	alg := algID{Algorithm: oidDHPublicNumber}
	alg.Parameters.P, alg.Parameters.G, alg.Parameters.Q = p, g, q
	var info, dp []byte
	var err error
	if id >= 0 {
		info, err = asn1.Marshal(struct {
			P  asn1.ObjectIdentifier
			V  int
			ID int
		}{oidPACEDHGMAES128, 2, id})
		if err == nil {
			dp, err = asn1.Marshal(struct {
				P  asn1.ObjectIdentifier
				A  algID
				ID int
			}{oidPACEDHGM, alg, id})
		}
	} else {
		info, err = asn1.Marshal(struct {
			P asn1.ObjectIdentifier
			V int
		}{oidPACEDHGMAES128, 2})
		if err == nil {
			dp, err = asn1.Marshal(struct {
				P asn1.ObjectIdentifier
				A algID
			}{oidPACEDHGM, alg})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	set, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: append(info, dp...)})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Explicit DH domain parameters in a PACEDomainParameterInfo: the G.2
// example with the 1024-bit group given explicitly, under proprietary ID 32
// and with no ID at all, runs APDU for APDU as with ID 0 (MSE:Set AT naming
// 32, or no parameter); parameters that fail the group checks leave the
// PACEInfo unsupported; a broken PACEDomainParameterInfo is ErrMalformed.
func TestPACEDHExplicitDomainParameters(t *testing.T) {
	grp, _ := paceDHGroup(0)
	for _, c := range []struct {
		id  int
		mse string
	}{{32, "0022C1A412 800A04007F00070202040102 830101 840120"}, {-1, "0022C1A40F 800A04007F00070202040102 830101"}} {
		ca, err := ParseCardAccess(explicitCardAccess(t, c.id, grp.p, grp.g, grp.q))
		if err != nil {
			t.Fatal(err)
		}
		info, err := ca.choose()
		if err != nil {
			t.Fatalf("ID %d: %v", c.id, err)
		}
		sc := g2Script(t, "7C0A 8608"+g2TIC+"9000")
		sc.cmds[0] = c.mse
		if _, err := PACE(context.Background(), sc, g2Key(), info, bytes.NewReader(h(t, g2MapSKIFD+g2EphSKIFD))); err != nil {
			t.Fatalf("ID %d: %v", c.id, err)
		}
		sc.done()
	}
	one := big.NewInt(1)
	for name, bad := range map[string][3]*big.Int{
		"q does not divide p-1": {grp.p, grp.g, new(big.Int).Add(grp.q, big.NewInt(2))},
		"g of another order":    {grp.p, big.NewInt(2), grp.q},
		"g = 1":                 {grp.p, one, grp.q},
		"p composite":           {new(big.Int).Add(grp.p, big.NewInt(2)), grp.g, grp.q},
		"p of 512 bits":         {new(big.Int).Rsh(grp.p, 512), grp.g, grp.q},
		"q of 128 bits":         {grp.p, grp.g, big.NewInt(0).Lsh(one, 127)},
		"negative p":            {new(big.Int).Neg(grp.p), grp.g, grp.q},
	} {
		ca, err := ParseCardAccess(explicitCardAccess(t, 32, bad[0], bad[1], bad[2]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := ca.choose(); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: choose = %v, want ErrUnsupported", name, err)
		}
	}
	// A PACEDomainParameterInfo whose domainParameter is no
	// AlgorithmIdentifier.
	if _, err := ParseCardAccess(h(t, "3127 3012060A04007F00070202040102020102020120 3011060904007F000702020401020101020120")); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "domainParameter") {
		t.Errorf("broken PACEDomainParameterInfo: %v", err)
	}
}

// An EF.CardAccess listing more explicit DH parameter sets than any chip
// needs is refused before their primality tests run: each costs two tests
// of up to 2048 bits, so hundreds would hold the reader for seconds.
func TestExplicitDomainParametersBounded(t *testing.T) {
	grp := dhGroups()[0]
	one := explicitCardAccess(t, 32, grp.p, grp.g, grp.q)
	// The SET's contents: the PACEInfo, then the PACEDomainParameterInfo.
	var set asn1.RawValue
	if _, err := asn1.Unmarshal(one, &set); err != nil {
		t.Fatal(err)
	}
	var info asn1.RawValue
	rest, err := asn1.Unmarshal(set.Bytes, &info)
	if err != nil {
		t.Fatal(err)
	}
	build := func(n int) []byte {
		body := append([]byte(nil), info.FullBytes...)
		for range n {
			body = append(body, rest...)
		}
		b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: body})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := ParseCardAccess(build(maxExplicitDH)); err != nil {
		t.Fatalf("%d sets: %v", maxExplicitDH, err)
	}
	if _, err := ParseCardAccess(build(maxExplicitDH + 1)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("%d sets: %v, want ErrMalformed", maxExplicitDH+1, err)
	}
}
