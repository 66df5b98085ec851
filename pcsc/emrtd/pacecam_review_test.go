package emrtd_test

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// transplant makes clone carry victim's application (EF.COM, EF.SOD and
// every data group, DG14 with the victim's Chip Authentication key among
// them) while it keeps its own key and its own, validly signed,
// EF.CardSecurity in the master file.
func transplant(clone, victim *emrtdapplet.Personalised) {
	for fid := uint16(0x0101); fid <= 0x011E; fid++ {
		if fid == 0x011C {
			continue // EF.CardAccess: the same on both
		}
		clone.Applet.ReplaceFile(fid, victim.Applet.File(fid))
	}
}

// A chip whose key the attacker controls (here: another document of the
// same issuer) carries a victim's data groups and EF.SOD, all genuine, and
// its own genuine EF.CardSecurity. PACE-CAM proves the chip holds
// EF.CardSecurity's key, and both signatures verify, but the key is not
// the one the victim's DG14 (covered by EF.SOD) names: the chip is not the
// victim's. Read refuses the record with ErrPACECAM, also when the caller
// did not ask for DG14 (ICAO 9303-11 §9.2.11: DG14 and EF.CardSecurity
// each carry the chip's ChipAuthenticationPublicKeyInfo; §4.4.3.5 proves
// only the latter, §5.1 binds only the former to the holder's data).
func TestPACECAMTransplantedDataGroups(t *testing.T) {
	is := sharedIssuer(t)
	victim, clone := camChip(t, is, 12, emrtdapplet.PACEAES128), camChip(t, is, 12, emrtdapplet.PACEAES128)
	transplant(clone, victim)
	for _, c := range []struct {
		name   string
		groups []emrtd.DG
	}{
		{"all data groups", nil},
		{"DG1 only", []emrtd.DG{emrtd.DG1}},
		{"DG1 only, Chip Authentication asked", []emrtd.DG{emrtd.DG1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := emrtd.Open(t.Context(), newTamper(t, clone), emrtd.CAN(clone.CAN), nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{clone.CSCA}, DataGroups: c.groups, ChipAuthentication: c.name == "DG1 only, Chip Authentication asked"})
			if !errors.Is(err, emrtd.ErrPACECAM) || !errors.Is(err, emrtd.ErrChipAuthentication) {
				t.Fatalf("transplanted data groups read: %v (verified %v, chip authenticated %v)", err, r != nil && r.Verified(), r != nil && r.ChipAuthenticated)
			}
			if r != nil && r.ChipAuthenticated {
				t.Fatal("record claims chip authentication")
			}
			t.Log(err)
		})
	}
	// The victim itself still reads, asking for DG1 only.
	s, err := emrtd.Open(t.Context(), newTamper(t, victim), emrtd.CAN(victim.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{victim.CSCA}, DataGroups: []emrtd.DG{emrtd.DG1}})
	if err != nil || !r.Verified() || !r.ChipAuthenticated {
		t.Fatalf("genuine chip: %v", err)
	}
}

// A careless relying party that reads without CSCAs, or whose passive
// authentication fails, must not find Record.ChipAuthenticated set: PACE-CAM
// shows the chip holds EF.CardSecurity's key, which is the issuer's only
// once passive authentication has checked EF.CardSecurity's signature
// (ICAO 9303-11 §4.4.3.5, §5.1). The same holds for Chip Authentication
// and DG14. A clone that wrote its own key into an EF.CardSecurity signed
// by nobody passes CAM and must still not be reported authenticated.
func TestPACECAMRecordNeedsPassiveAuth(t *testing.T) {
	is := sharedIssuer(t)
	p := camChip(t, is, 12, emrtdapplet.PACEAES128)
	read := func(t *testing.T, p *emrtdapplet.Personalised, o *emrtd.ReadOptions) (*emrtd.Record, error) {
		t.Helper()
		s, err := emrtd.Open(t.Context(), newTamper(t, p), emrtd.CAN(p.CAN), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s.Read(t.Context(), o)
	}
	for _, o := range []*emrtd.ReadOptions{nil, {ChipAuthentication: true}, {DataGroups: []emrtd.DG{emrtd.DG1}}} {
		r, err := read(t, p, o)
		if err != nil {
			t.Fatal(err)
		}
		if r.ChipAuthenticated || r.Verification.Status != emrtd.NotChecked {
			t.Fatalf("%+v: chip authenticated %v without passive authentication", o, r.ChipAuthenticated)
		}
	}
	// Another issuer's CSCA: EF.SOD does not verify, the record comes
	// back with the error, and without the claim.
	other := sharedIssuer(t)
	q := camChip(t, other, 12, emrtdapplet.PACEAES128)
	r, err := read(t, p, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{q.CSCA}})
	if !errors.Is(err, emrtd.ErrPassiveAuth) || r == nil || r.ChipAuthenticated {
		t.Fatalf("untrusted CSCA: %v, record %v", err, r != nil && r.ChipAuthenticated)
	}
	// A chip carrying its own key in an EF.CardSecurity of another
	// issuer (self-made): CAM passes, the signature does not.
	forged := camChip(t, other, 12, emrtdapplet.PACEAES128)
	transplant(forged, p)
	if r, err := read(t, forged, nil); err == nil && r.ChipAuthenticated {
		t.Fatal("self-signed EF.CardSecurity: chip reported authenticated without CSCAs")
	}
	if _, err := read(t, forged, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}}); !errors.Is(err, emrtd.ErrCardSecurity) && !errors.Is(err, emrtd.ErrPACECAM) {
		t.Fatalf("self-signed EF.CardSecurity with CSCAs: %v", err)
	}
	// With the CSCA the genuine chip's record says so.
	if r, err := read(t, p, &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}}); err != nil || !r.ChipAuthenticated {
		t.Fatalf("genuine: %v", err)
	}
}

// stripCAM answers READ BINARY of EF.CardAccess with its generic mapping
// PACEInfo alone, as someone between chip and reader could (the file is
// unsigned).
func stripCAM(t *testing.T, p *emrtdapplet.Personalised) *tamper {
	t.Helper()
	ca, err := emrtd.ParseCardAccess(p.Applet.File(0x011C))
	if err != nil || len(ca.PACE) != 2 {
		t.Fatalf("EF.CardAccess: %v", err)
	}
	var gmOnly []byte
	for _, info := range ca.Infos {
		if info.Protocol[9] == 2 {
			oid, _ := asn1.Marshal(info.Protocol)
			seq, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true,
				Bytes: append(append(oid, info.RequiredData...), info.OptionalData...)})
			gmOnly, _ = asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: seq})
		}
	}
	m := newTamper(t, p)
	m.answer = func(cmd, resp []byte) []byte {
		if cmd[0] == 0x00 && cmd[1] == 0xB0 && cmd[2] == 0x9C {
			return append(bytes.Clone(gmOnly), resp[len(resp)-2:]...)
		}
		return resp
	}
	return m
}

// CAM stripped from EF.CardAccess: whatever the caller reads — DG1 only,
// with Chip Authentication (which then runs, version 1, and succeeds), with
// RequirePACE (generic mapping is PACE) — Read finds the CAM PACEInfo in
// the signed SecurityInfos and refuses with ErrCardAccessMismatch. A caller
// that skips Read is told nothing false: the session is not
// chip-authenticated.
func TestPACECAMDowngradeVariants(t *testing.T) {
	p := camChip(t, sharedIssuer(t), 13, emrtdapplet.PACEAES128)
	cscas := []*x509.Certificate{p.CSCA}
	for _, c := range []struct {
		name string
		open *emrtd.Options
		read *emrtd.ReadOptions
	}{
		{"DG1 only", nil, &emrtd.ReadOptions{CSCAs: cscas, DataGroups: []emrtd.DG{emrtd.DG1}}},
		{"Chip Authentication", nil, &emrtd.ReadOptions{CSCAs: cscas, ChipAuthentication: true, DataGroups: []emrtd.DG{emrtd.DG1}}},
		{"RequirePACE", &emrtd.Options{RequirePACE: true}, &emrtd.ReadOptions{CSCAs: cscas}},
		{"no CSCAs", nil, &emrtd.ReadOptions{DataGroups: []emrtd.DG{emrtd.DG1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := emrtd.Open(t.Context(), stripCAM(t, p), emrtd.CAN(p.CAN), c.open)
			if err != nil {
				t.Fatal(err)
			}
			if s.ChipAuthenticated() {
				t.Fatal("generic mapping reported as chip authentication")
			}
			if r, err := s.Read(t.Context(), c.read); !errors.Is(err, emrtd.ErrCardAccessMismatch) {
				t.Fatalf("Read after CAM was stripped: %v (chip authenticated %v)", err, r != nil && r.ChipAuthenticated)
			}
		})
	}
}

// Someone who answers the CAM MSE:Set AT with a status word (before any
// authentication) makes Open, with the MRZ, fall back to BAC, as for any
// PACE variant turned down (Options.RequirePACE forbids it). Nothing then
// claims chip authentication: the record is chip-authenticated only when
// Chip Authentication (version 1, DG14) runs and passive authentication
// covers its key.
func TestPACECAMTurnedDown(t *testing.T) {
	p := camChip(t, sharedIssuer(t), 12, emrtdapplet.PACEAES128)
	mrz, err := emrtd.MRZKeyFromMRZ(p.MRZ)
	if err != nil {
		t.Fatal(err)
	}
	m := newTamper(t, p)
	m.answer = func(cmd, resp []byte) []byte {
		if cmd[1] == 0x22 && cmd[2] == 0xC1 && cmd[3] == 0xA4 {
			return []byte{0x6A, 0x80}
		}
		return resp
	}
	cscas := []*x509.Certificate{p.CSCA}
	for _, ca := range []bool{false, true} {
		s, err := emrtd.Open(t.Context(), m, mrz, nil)
		if err != nil || s.Protocol() != emrtd.ProtocolBAC || s.ChipAuthenticated() {
			t.Fatalf("Open: %v", err)
		}
		r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: cscas, ChipAuthentication: ca})
		if err != nil || r.ChipAuthenticated != ca {
			t.Fatalf("Chip Authentication %v: %v, record chip-authenticated %v", ca, err, r != nil && r.ChipAuthenticated)
		}
	}
	if _, err := emrtd.Open(t.Context(), m, mrz, &emrtd.Options{RequirePACE: true}); !errors.Is(err, emrtd.ErrPACERequired) {
		t.Fatalf("RequirePACE: %v", err)
	}
}

// A CAM chip whose EF.CardSecurity is unreadable as a file — announcing
// more than the reader takes, ending before its TLV does, an empty header —
// has not shown its key: ErrPACECAM (and so ErrChipAuthentication), as for
// a file that reads but does not parse, so that a caller who branches on
// clones catches it; the oversized one costs no more APDUs than a short one.
func TestPACECAMCardSecurityUnreadable(t *testing.T) {
	p := camChip(t, sharedIssuer(t), 12, emrtdapplet.PACEAES128)
	for name, cs := range map[string][]byte{
		"2 MiB announced": {0x30, 0x83, 0x20, 0x00, 0x00, 1, 2, 3},
		"ends early":      {0x30, 0x82, 0x10, 0x00, 1, 2, 3},
		"no header":       {0x00},
		"EF.SOD's tag":    {0x77, 0x03, 1, 2, 3},
		"empty SEQUENCE":  {0x30, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			p.Applet.ReplaceCardSecurity(cs)
			m := newTamper(t, p)
			_, err := emrtd.Open(t.Context(), m, emrtd.CAN(p.CAN), nil)
			if !errors.Is(err, emrtd.ErrPACECAM) || !errors.Is(err, emrtd.ErrChipAuthentication) {
				t.Fatalf("Open: %v", err)
			}
			if len(m.cmds) > 9 {
				t.Fatalf("%d APDUs", len(m.cmds))
			}
		})
	}
}
