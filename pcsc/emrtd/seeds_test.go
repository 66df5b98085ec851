package emrtd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// writeSeed stores one corpus entry in the format of `go test fuzz v1`.
func writeSeed(t *testing.T, target, name string, b []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeSeeds stores one corpus entry of a target with several []byte
// arguments.
func writeSeeds(t *testing.T, target, name string, args ...[]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n"
	for _, b := range args {
		body += fmt.Sprintf("[]byte(%q)\n", b)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFuzzSeeds regenerates the seed corpora from a virtual card
// (with a small photo, to keep them small) when PUCE_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("PUCE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set PUCE_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	pki := newTerminalPKI(t, time.Now(), fullRights(time.Now()))
	for i, c := range []*emrtd.CVCertificate{pki.cvcaCert, pki.dv, pki.is} {
		writeSeed(t, "FuzzParseCVCertificate", fmt.Sprintf("chain-%d", i), c.Raw)
	}
	bp, err := emrtdapplet.NewBrainpoolIssuer("UTO", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzParseCertificate", "brainpool-csca", bp.CSCA.Raw)
	writeSeed(t, "FuzzParseCertificate", "brainpool-ds", bp.DocumentSigner.Raw)
	ml, err := bp.MasterList(time.Now(), nil, bp.CSCA)
	if err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzParseMasterList", "brainpool", ml)
	pb, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{Issuer: bp, CardSecurity: true})
	if err != nil {
		t.Fatal(err)
	}
	pb.Applet.ReplaceFile(uint16(emrtd.DG2.File()), nil)
	writeSeed(t, "FuzzParseSOD", "virtual-brainpool", pb.Applet.File(uint16(emrtd.FileSOD)))
	writeSeed(t, "FuzzParseCardSecurity", "virtual-brainpool", pb.Applet.CardSecurity())
	for _, code := range []string{"ID", "P"} {
		prof := emrtdapplet.SampleProfile()
		prof.DocumentCode = code
		prof.Photo = emrtdapplet.SamplePhoto(16, 16)
		// The passport's DG14 spells its curve out, the card's names it.
		p, err := emrtdapplet.Personalise(prof, &emrtdapplet.Options{ExplicitDomainParameters: code == "P", PACEParameterID: map[string]int{"P": 12}[code], ActiveAuthentication: true, CardSecurity: true})
		if err != nil {
			t.Fatal(err)
		}
		a := p.Applet
		name := "virtual-" + code
		writeSeed(t, "FuzzParseCOM", name, a.File(uint16(emrtd.FileCOM)))
		writeSeed(t, "FuzzParseSOD", name, a.File(uint16(emrtd.FileSOD)))
		writeSeed(t, "FuzzParseDG1", name, a.File(uint16(emrtd.DG1.File())))
		writeSeed(t, "FuzzParseDG2", name, a.File(uint16(emrtd.DG2.File())))
		writeSeed(t, "FuzzParseDG11", name, a.File(uint16(emrtd.DG11.File())))
		writeSeed(t, "FuzzParseDG12", name, a.File(uint16(emrtd.DG12.File())))
		writeSeed(t, "FuzzParseDG13", name, a.File(uint16(emrtd.DG13.File())))
		writeSeed(t, "FuzzParseCardAccess", name, a.File(uint16(emrtd.FileCardAccess)))
		writeSeed(t, "FuzzParseDG14", name, a.File(uint16(emrtd.DG14.File())))
		writeSeed(t, "FuzzParseDG3", name, a.File(uint16(emrtd.DG3.File())))
		writeSeed(t, "FuzzParseDG15", name, a.File(uint16(emrtd.DG15.File())))
		writeSeed(t, "FuzzParseCardSecurity", name, a.CardSecurity())
		writeSeeds(t, "FuzzCheckCardAccess", name, a.File(uint16(emrtd.FileCardAccess)), a.File(uint16(emrtd.DG14.File())))
	}
}
