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
