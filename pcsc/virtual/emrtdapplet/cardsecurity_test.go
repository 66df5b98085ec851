package emrtdapplet

import (
	"bytes"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
)

// EF.CardSecurity lives in the MF under 011D / SFI 1D, readable after PACE
// only (ICAO 9303-11 §9.2.11); in the application 011D / 1D stays EF.SOD.
func TestCardSecurityAccess(t *testing.T) {
	p, err := Personalise(SampleProfile(), &Options{Issuer: testIssuer(t), CardSecurity: true})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Applet
	cs := a.CardSecurity()
	if len(cs) < 100 || cs[0] != 0x30 {
		t.Fatalf("EF.CardSecurity % X", cs)
	}
	card, err := virtual.NewCard(virtual.Config{}, a)
	if err != nil {
		t.Fatal(err)
	}
	// Plain, before any access control: refused, by SFI and by FID, and a
	// SELECT refused too (nothing about the file before PACE, not even
	// that it exists: TestNoFileExistenceBeforeAccess).
	exchange(t, card, [][2]string{
		{"00B09D0000", "6982"},
		{"00A4020C02011D", "6982"},
		{"00B0000000", "6986"},
		{"00A4020402011D00", "6982"},
		{"00A4080C02011D", "6982"},
		{"00B0000000", "6986"},
	})
	// After BAC, in the MF: still refused, BAC is not PACE.
	a.mu.Lock()
	a.inMF, a.level = true, accessBAC
	r := a.readBinary(apdu.Command{INS: 0xB0, P1: 0x9D, Ne: 256})
	a.mu.Unlock()
	if r.SW != apdu.SWSecurityStatus {
		t.Errorf("EF.CardSecurity after BAC: %04X", r.SW)
	}
	// After PACE, in the MF: the file; in the application: EF.SOD.
	a.mu.Lock()
	defer a.mu.Unlock()
	a.level = accessPACE
	r = a.readBinary(apdu.Command{INS: 0xB0, P1: 0x9D, Ne: 0x7FFF})
	// Ne 7FFF asks for more than the file: 6282 (ISO/IEC 7816-4 (2020)
	// §11.2.3, Table 6).
	if r.SW != swEndOfFile || !bytes.Equal(r.Data, cs) {
		t.Errorf("EF.CardSecurity after PACE: %04X % X", r.SW, r.Data)
	}
	fcp := a.selectFile(apdu.Command{INS: 0xA4, P1: 0x02, P2: 0x04, Data: []byte{0x01, 0x1D}, Ne: 256})
	if want := efFCP(fidCardSecurity, len(cs)); fcp.SW != apdu.SWOK || !bytes.Equal(fcp.Data, want) {
		t.Errorf("FCP of EF.CardSecurity % X, want % X", fcp.Data, want)
	}
	a.inMF = false
	r = a.readBinary(apdu.Command{INS: 0xB0, P1: 0x9D, Ne: 0x7FFF})
	if r.SW != swEndOfFile || !bytes.Equal(r.Data, a.files[fidSOD]) {
		t.Errorf("SFI 1D in the application: %04X, not EF.SOD", r.SW)
	}
}

// The signed SecurityInfos are DG14's, EF.CardAccess's among them; OmitDG14
// drops DG14 from the LDS (EF.COM and EF.SOD) but not from EF.CardSecurity;
// the options that cannot hold are refused.
func TestCardSecurityContent(t *testing.T) {
	is := testIssuer(t)
	p, err := Personalise(SampleProfile(), &Options{Issuer: is, CardSecurity: true, OmitDG14: true, DisableChipAuthentication: true})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Applet
	if a.File(0x010E) != nil {
		t.Error("DG14 present with OmitDG14")
	}
	com, err := emrtd.ParseCOM(a.File(fidCOM))
	if err != nil || slices.Contains(com.DataGroups, emrtd.DG14) {
		t.Errorf("EF.COM lists DG14: %v %v", com, err)
	}
	sod, err := emrtd.ParseSOD(a.File(fidSOD))
	if err != nil || sod.Hashes[emrtd.DG14] != nil {
		t.Errorf("EF.SOD covers DG14: %v", err)
	}
	content := openSSLContent(t, a.CardSecurity(), p.CSCA.Raw)
	if content != nil && !bytes.Contains(content, a.File(fidCardAccess)[2:]) {
		t.Errorf("EF.CardSecurity content % X lacks EF.CardAccess's PACEInfo", content)
	}
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}
	if _, err := asn1.Unmarshal(a.CardSecurity(), &ci); err != nil || !ci.Type.Equal(oidSignedDataType) {
		t.Errorf("EF.CardSecurity ContentInfo: %v %v", ci.Type, err)
	}
	if !bytes.Contains(ci.Content.Bytes, mustMarshal(t, oidSecurityObject)) {
		t.Error("EF.CardSecurity's eContentType is not id-SecurityObject")
	}
	for name, o := range map[string]*Options{
		"no PACE":         {Issuer: is, CardSecurity: true, DisablePACE: true},
		"CA without DG14": {Issuer: is, OmitDG14: true},
		"AA without DG14": {Issuer: is, OmitDG14: true, DisableChipAuthentication: true, ActiveAuthentication: true},
	} {
		if _, err := Personalise(SampleProfile(), o); !errors.Is(err, ErrProfile) {
			t.Errorf("%s: %v, want ErrProfile", name, err)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openSSLContent has OpenSSL, an independent CMS implementation, verify a
// SignedData against the CSCA and returns the signed content; nil (after a
// loud skip message) without openssl.
func openSSLContent(t *testing.T, signed, csca []byte) []byte {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Logf("SKIPPING the OpenSSL check of %s: no openssl in PATH", t.Name())
		return nil
	}
	dir := t.TempDir()
	in, ca, out := filepath.Join(dir, "cs.der"), filepath.Join(dir, "csca.pem"), filepath.Join(dir, "content.der")
	if err := os.WriteFile(in, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: csca}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", ca, "-binary", "-out", out, "-purpose", "any")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(b) == 0 || b[0] != 0x31 {
		t.Fatalf("SecurityInfos from openssl: % X, %v", b, err)
	}
	return b
}
