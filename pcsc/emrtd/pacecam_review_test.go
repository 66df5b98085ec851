package emrtd_test

import (
	"crypto/x509"
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
