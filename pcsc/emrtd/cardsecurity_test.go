package emrtd_test

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// pacePlain is a PACE-only chip without DG14 (no Chip or Active
// Authentication data in the LDS), on NIST P-256 for speed.
func pacePlain(is *emrtdapplet.Issuer, param int, cardSecurity bool) *emrtdapplet.Options {
	return &emrtdapplet.Options{Issuer: is, PACEParameterID: param, OmitDG14: true, DisableChipAuthentication: true, CardSecurity: cardSecurity}
}

// readCardSecurityChip opens the chip with PACE and reads it with its CSCA.
func readCardSecurityChip(t *testing.T, p *emrtdapplet.Personalised) (*emrtd.Record, []string, error) {
	t.Helper()
	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{card: card}
	s, err := emrtd.Open(t.Context(), rec, emrtd.CAN(p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(t.Context(), &emrtd.ReadOptions{CSCAs: []*x509.Certificate{p.CSCA}})
	return r, rec.log, err
}

// A PACE chip with EF.CardSecurity and no DG14 reads and verifies: EF.COM
// names no DG14, so Read goes back to the MF under secure messaging, reads
// EF.CardSecurity by SFI 1D there (where 1D is not EF.SOD), selects the
// application again, and EF.CardAccess is authenticated by the signed
// SecurityInfos (ICAO 9303-11 §9.2.11).
func TestCardSecurityInsteadOfDG14(t *testing.T) {
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), pacePlain(nil, 12, true))
	if err != nil {
		t.Fatal(err)
	}
	r, log, err := readCardSecurityChip(t, p)
	if err != nil || !r.Verified() {
		t.Fatalf("read: %v", err)
	}
	if _, ok := r.DataGroups[emrtd.DG14]; ok || r.Security != nil {
		t.Error("DG14 read from a chip without it")
	}
	if !bytes.Equal(r.CardSecurity, p.Applet.CardSecurity()) {
		t.Error("Record.CardSecurity is not the chip's EF.CardSecurity")
	}
	// PACE (6 APDUs), SELECT, EF.COM, EF.SOD (which, signed, says which
	// data groups are present, DG14 or not), then the detour through the
	// MF. Each file comes whole from one READ BINARY whose Ne goes past its
	// end: 6282 (ISO/IEC 7816-4 (2020) §11.2.3, Table 6).
	want := []string{"0CB09E00 6282", "0CB09D00 6282", "0CA4000C 9000", "0CB09D00 6282", "0CA4040C 9000"}
	if len(log) < 7+len(want)-1 || fmt.Sprint(log[7:7+len(want)]) != fmt.Sprint(want) {
		t.Errorf("APDUs after SELECT:\n got  %v\n want %v …", log[7:], want)
	}
	cs, err := emrtd.ParseCardSecurity(r.CardSecurity)
	if err != nil || !cs.Signer.Equal(p.Issuer.DocumentSigner) {
		t.Fatalf("ParseCardSecurity: %v", err)
	}
	if ca, err := cs.Verify(emrtd.PassiveOptions{CSCAs: []*x509.Certificate{p.CSCA}}, r.DataGroups[emrtd.DG1]); err != nil || !ca.Equal(p.CSCA) {
		t.Errorf("Verify: %v", err)
	}
	// A value not made by ParseCardSecurity is refused, not a panic.
	if _, err := (&emrtd.CardSecurity{}).Verify(emrtd.PassiveOptions{CSCAs: []*x509.Certificate{p.CSCA}}, nil); !errors.Is(err, emrtd.ErrCardSecurity) {
		t.Errorf("Verify of a zero CardSecurity: %v", err)
	}
}

// EF.CardSecurity that fails its checks is refused with ErrCardSecurity
// and the cause; one that is validly signed but lacks an entry of
// EF.CardAccess with ErrCardAccessMismatch. No record in either case.
func TestCardSecurityRefused(t *testing.T) {
	is, err := emrtdapplet.NewIssuer("UTO", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := emrtdapplet.NewIssuer("UTO", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same chip type, signed by a document signer of another CSCA.
	other, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), pacePlain(stranger, 12, true))
	if err != nil {
		t.Fatal(err)
	}
	// A chip on brainpoolP256r1 (parameter 13): its EF.CardAccess names
	// another PACEInfo than a P-256 chip's.
	bp, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), pacePlain(is, 13, false))
	if err != nil {
		t.Fatal(err)
	}
	lacking, err := is.SignCardSecurity(bp.Applet.File(uint16(emrtd.FileCardAccess)), time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		alter  func(cs []byte) []byte
		want   []error
		unwant error
	}{
		{"bad signature", func(cs []byte) []byte {
			// The last byte is the ECDSA signature's: it still parses.
			b := bytes.Clone(cs)
			b[len(b)-1] ^= 0x01
			return b
		}, []error{emrtd.ErrCardSecurity, emrtd.ErrSignature, emrtd.ErrPassiveAuth}, emrtd.ErrUntrustedSigner},
		{"untrusted signer", func([]byte) []byte { return other.Applet.CardSecurity() }, []error{emrtd.ErrCardSecurity, emrtd.ErrUntrustedSigner}, emrtd.ErrSignature},
		{"lacks the PACEInfo", func([]byte) []byte { return lacking }, []error{emrtd.ErrCardAccessMismatch}, emrtd.ErrCardSecurity},
		{"another content type", func(cs []byte) []byte {
			// id-SecurityObject (…3.2.1) becomes …3.2.2, both times it
			// occurs (eContentType and the content-type attribute).
			return bytes.ReplaceAll(cs, []byte{0x06, 0x08, 0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x02, 0x01}, []byte{0x06, 0x08, 0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x02, 0x02})
		}, []error{emrtd.ErrCardSecurity, emrtd.ErrMalformed}, emrtd.ErrCardAccessMismatch},
		{"neither EF.CardSecurity nor DG14", func([]byte) []byte { return nil }, []error{emrtd.ErrCardAccessMismatch}, emrtd.ErrCardSecurity},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), pacePlain(is, 12, true))
			if err != nil {
				t.Fatal(err)
			}
			orig := p.Applet.CardSecurity()
			altered := c.alter(orig)
			if altered != nil && bytes.Equal(altered, orig) {
				t.Fatal("the alteration changed nothing")
			}
			p.Applet.ReplaceCardSecurity(altered)
			r, _, err := readCardSecurityChip(t, p)
			if r != nil {
				t.Error("a record despite the failure")
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("error %v does not match %v", err, w)
				}
			}
			if c.unwant != nil && errors.Is(err, c.unwant) {
				t.Errorf("error %v matches %v", err, c.unwant)
			}
		})
	}
}

// A chip whose EF.CardAccess names a protocol that requires EF.CardSecurity
// (here Terminal Authentication in the MF, ICAO 9303-11 §9.2.11) has it read
// at once after PACE, in the MF, before the application is selected; Read
// then needs no detour. A chip that names one but lacks the file answers
// 6A82 and is checked against DG14 instead.
func TestCardSecurityAnnounced(t *testing.T) {
	taInfo := struct {
		Protocol asn1.ObjectIdentifier
		Version  int
	}{asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 2}, 1}
	is, err := emrtdapplet.NewIssuer("UTO", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), pacePlain(is, 12, true))
	if err != nil {
		t.Fatal(err)
	}
	access := withExtraInfo(t, p.Applet.File(uint16(emrtd.FileCardAccess)), taInfo)
	p.Applet.ReplaceFile(uint16(emrtd.FileCardAccess), access)
	cs, err := is.SignCardSecurity(access, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Applet.ReplaceCardSecurity(cs)
	r, log, err := readCardSecurityChip(t, p)
	if err != nil || !r.Verified() || !bytes.Equal(r.CardSecurity, cs) {
		t.Fatalf("read: %v", err)
	}
	// Every file whole in one READ BINARY whose Ne goes past its end: 6282
	// (ISO/IEC 7816-4 (2020) §11.2.3, Table 6).
	want := []string{"00B09C00 6282", "0022C1A4 9000", "10860000 9000", "10860000 9000", "10860000 9000", "00860000 9000",
		"0CB09D00 6282", // EF.CardSecurity, in the MF, under secure messaging
		"0CA4040C 9000", // then the application
		"0CB09E00 6282", // EF.COM
		"0CB09D00 6282", // EF.SOD: the same SFI, the application's file
	}
	if len(log) < len(want) || fmt.Sprint(log[:len(want)]) != fmt.Sprint(want) {
		t.Errorf("APDUs:\n got  %v\n want %v …", log, want)
	}
	if slices.Contains(log, "0CA4000C 9000") {
		t.Error("SELECT MF after EF.CardSecurity was read")
	}

	// Announced but absent, on a chip with DG14 (whose SecurityInfos hold
	// the same TerminalAuthenticationInfo): one 6A82, then DG14.
	d, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{Issuer: is, PACEParameterID: 12})
	if err != nil {
		t.Fatal(err)
	}
	d.Applet.ReplaceFile(uint16(emrtd.FileCardAccess), withExtraInfo(t, d.Applet.File(uint16(emrtd.FileCardAccess)), taInfo))
	r, log, err = readCardSecurityChip(t, d)
	if err != nil || !r.Verified() || r.CardSecurity != nil || r.Security == nil {
		t.Fatalf("read with DG14: %v", err)
	}
	if len(log) < 7 || log[6] != "0CB09D00 6A82" || log[7] != "0CA4040C 9000" {
		t.Errorf("APDUs: %v", log)
	}
}

// A chip with DG14 and no EF.CardSecurity costs what it did: no probe of
// the MF, in Open or in Read.
func TestNoCardSecurityNoProbe(t *testing.T) {
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{PACEParameterID: 12})
	if err != nil {
		t.Fatal(err)
	}
	r, log, err := readCardSecurityChip(t, p)
	if err != nil || !r.Verified() || r.CardSecurity != nil {
		t.Fatalf("read: %v", err)
	}
	// PACE 6, SELECT, EF.COM, EF.SOD, DG1, DG2, DG11-DG14 (DG3, which needs
	// Terminal Authentication, not asked): no SELECT MF, SFI 1D only for
	// EF.SOD in the application. Each file in one READ BINARY whose Ne goes
	// past its end: 6282 (ISO/IEC 7816-4 (2020) §11.2.3, Table 6).
	want := []string{"00B09C00 6282", "0022C1A4 9000", "10860000 9000", "10860000 9000", "10860000 9000", "00860000 9000",
		"0CA4040C 9000", "0CB09E00 6282", "0CB09D00 6282", "0CB08100 6282", "0CB08200 6282",
		"0CB08B00 6282", "0CB08C00 6282", "0CB08D00 6282", "0CB08E00 6282"}
	if fmt.Sprint(log) != fmt.Sprint(want) {
		t.Errorf("APDUs:\n got  %v\n want %v", log, want)
	}
}
