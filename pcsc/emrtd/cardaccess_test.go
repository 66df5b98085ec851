package emrtd_test

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// withExtraInfo returns EF.CardAccess with one more SecurityInfo after the
// chip's own.
func withExtraInfo(t *testing.T, cardAccess []byte, extra any) []byte {
	t.Helper()
	var set asn1.RawValue
	if _, err := asn1.Unmarshal(cardAccess, &set); err != nil {
		t.Fatal(err)
	}
	b, err := asn1.Marshal(extra)
	if err != nil {
		t.Fatal(err)
	}
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: append(set.Bytes, b...)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// DG14 carries every SecurityInfo of EF.CardAccess (ICAO 9303-11 §9.2.11),
// and the reader checks EF.CardAccess against it after passive
// authentication: an EF.CardAccess altered on the way — here with an entry
// the signed DG14 lacks — is refused, though PACE itself succeeded.
func TestCardAccessMismatch(t *testing.T) {
	type paceInfo struct {
		Protocol asn1.ObjectIdentifier
		Version  int
		Param    int
	}
	type otherInfo struct {
		Protocol asn1.ObjectIdentifier
		Required int
	}
	for name, extra := range map[string]any{
		"another PACE variant": paceInfo{asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 2, 4}, 2, 13},
		"an unknown protocol":  otherInfo{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, 1},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, true, &emrtdapplet.Options{PACEParameterID: 12})
			ca := f.p.Applet.File(uint16(emrtd.FileCardAccess))
			f.p.Applet.ReplaceFile(uint16(emrtd.FileCardAccess), withExtraInfo(t, ca, extra))
			s, err := emrtd.Open(t.Context(), f.tr, emrtd.CAN(f.p.CAN), nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Protocol() != emrtd.ProtocolPACE || len(s.CardAccess().Infos) != 2 {
				t.Fatalf("opened with %v, %d infos", s.Protocol(), len(s.CardAccess().Infos))
			}
			r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}, DataGroups: []emrtd.DG{emrtd.DG1}})
			if !errors.Is(err, emrtd.ErrCardAccessMismatch) || r != nil {
				t.Fatalf("altered EF.CardAccess: %v, record %v", err, r != nil)
			}
		})
	}

	// The same chip unaltered reads, with DG14 fetched for the check even
	// when not asked for.
	f := newFixture(t, true, &emrtdapplet.Options{PACEParameterID: 12, DisableChipAuthentication: true})
	s, err := emrtd.Open(t.Context(), f.tr, emrtd.CAN(f.p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}, DataGroups: []emrtd.DG{emrtd.DG1}})
	if err != nil || !r.Verified() || r.DataGroups[emrtd.DG14] == nil {
		t.Fatalf("genuine chip: %v", err)
	}
}

// The classic downgrade: EF.CardAccess hidden (6A82, as on a BAC-only
// chip) so that the reader falls back to BAC; DG14, signed, says the chip
// does PACE, and the read is refused.
func TestCardAccessHiddenDowngrade(t *testing.T) {
	f := newFixture(t, true, nil)
	if err := f.tr.card.Inject(virtual.Fault{SW: apdu.SWFileNotFound, Match: func(c apdu.Command) bool {
		return c.CLA == 0 && c.INS == 0xB0 && c.P1 == 0x9C
	}}); err != nil {
		t.Fatal(err)
	}
	s, err := emrtd.Open(t.Context(), f.tr, f.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Protocol() != emrtd.ProtocolBAC {
		t.Fatalf("protocol %v, want BAC after the hidden EF.CardAccess", s.Protocol())
	}
	if _, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}}); !errors.Is(err, emrtd.ErrCardAccessMismatch) {
		t.Fatalf("downgraded read: %v", err)
	}
	// A reader told to use BAC (Options.DisablePACE) made no such
	// inference and reads.
	s, err = emrtd.Open(t.Context(), f.tr, f.key, &emrtd.Options{DisablePACE: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{f.p.CSCA}}); err != nil || !r.Verified() {
		t.Fatalf("BAC by choice: %v", err)
	}
}
