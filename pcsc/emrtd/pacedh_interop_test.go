package emrtd_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// PACE with DH generic mapping against the virtual chip: every MODP group
// of ICAO 9303-11 Table 6 (IDs 0-2) with AES-128, and the 1024-bit group
// with every cipher; Read then checks passive authentication and EF.CardAccess
// against DG14 (the downgrade check).
func TestPACEDHEveryGroupAndCipher(t *testing.T) {
	type variant struct {
		param  int
		cipher emrtdapplet.PACECipher
	}
	vs := []variant{{1, emrtdapplet.PACEAES128}, {2, emrtdapplet.PACEAES128}}
	for c := emrtdapplet.PACE3DES; c <= emrtdapplet.PACEAES256; c++ {
		vs = append(vs, variant{0, c})
	}
	prof := emrtdapplet.SampleProfile()
	for _, v := range vs {
		f := newFixture(t, true, &emrtdapplet.Options{PACEDH: true, PACEParameterID: v.param, PACECipher: v.cipher})
		ctx := context.Background()
		ca, err := emrtd.ParseCardAccess(f.p.Applet.File(0x011C))
		if err != nil || len(ca.PACE) != 1 || ca.PACE[0].ParameterID != v.param || !ca.PACE[0].Supported() {
			t.Fatalf("parameter %d: EF.CardAccess %+v, %v", v.param, ca, err)
		}
		s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
		if err != nil {
			t.Errorf("parameter %d, cipher %d: %v", v.param, v.cipher, err)
			continue
		}
		if s.Protocol() != emrtd.ProtocolPACE {
			t.Errorf("parameter %d: protocol %v", v.param, s.Protocol())
		}
		r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
		if err != nil {
			t.Errorf("parameter %d, cipher %d: Read: %v", v.param, v.cipher, err)
			continue
		}
		checkSample(t, r, prof)
	}
}

// The 1024-bit group runs over short APDUs too; the 2048-bit groups need
// extended length, which a short-only card lacks: with a CAN ErrUnsupported,
// with the MRZ BAC, as for a PACE variant the reader does not implement
// (ICAO 9303-11 §4.2).
func TestPACEDHShortAPDUs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, false, &emrtdapplet.Options{PACEDH: true})
	s, err := emrtd.Open(ctx, f.tr, f.key, nil)
	if err != nil || s.Protocol() != emrtd.ProtocolPACE {
		t.Fatalf("1024-bit group over short APDUs: %v", err)
	}
	f = newFixture(t, false, &emrtdapplet.Options{PACEDH: true, PACEParameterID: 2, DisableBAC: true})
	if _, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil); !errors.Is(err, emrtd.ErrUnsupported) {
		t.Fatalf("2048-bit group over short APDUs: %v, want ErrUnsupported", err)
	}
	f = newFixture(t, false, &emrtdapplet.Options{PACEDH: true, PACEParameterID: 1})
	s, err = emrtd.Open(ctx, f.tr, f.key, nil)
	if err != nil || s.Protocol() != emrtd.ProtocolBAC {
		t.Fatalf("2048-bit group over short APDUs with the MRZ: %v", err)
	}
	r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
	if err != nil || !r.Verified() {
		t.Fatalf("Read after BAC: %v", err)
	}
}

// A wrong CAN on a DH chip: the chip refuses the token, ErrAccessDenied.
func TestPACEDHWrongCAN(t *testing.T) {
	f := newFixture(t, true, &emrtdapplet.Options{PACEDH: true, CAN: "123456"})
	if _, err := emrtd.Open(context.Background(), f.tr, emrtd.CAN("654321"), nil); !errors.Is(err, emrtd.ErrAccessDenied) {
		t.Fatalf("wrong CAN: %v, want ErrAccessDenied", err)
	}
}

// Explicit DH parameters: the chip gives the 2048/224 group in a
// PACEDomainParameterInfo under parameter ID 32; the reader checks the
// group, runs PACE on it and Read authenticates EF.CardAccess, explicit
// parameters included, against DG14.
func TestPACEDHExplicitParametersVirtualChip(t *testing.T) {
	f := newFixture(t, true, &emrtdapplet.Options{PACEDH: true, PACEDHExplicit: true, PACEParameterID: 1})
	ca, err := emrtd.ParseCardAccess(f.p.Applet.File(0x011C))
	if err != nil || len(ca.PACE) != 1 || ca.PACE[0].ParameterID != 32 || !ca.PACE[0].Supported() || len(ca.Infos) != 2 {
		t.Fatalf("EF.CardAccess %+v, %v", ca, err)
	}
	ctx := context.Background()
	s, err := emrtd.Open(ctx, f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil || s.Protocol() != emrtd.ProtocolPACE {
		t.Fatalf("Open: %v", err)
	}
	r, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}})
	if err != nil || !r.Verified() {
		t.Fatalf("Read: %v", err)
	}
}
