package loginsrv

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// fuzzTime is when the seed corpus's document signer is valid: the seeds
// were made then (TestWriteFuzzSeeds), and must keep verifying.
var fuzzTime = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func fuzzCSCA(t testing.TB) []*x509.Certificate {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz-csca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{c}
}

// FuzzEnvelope feeds the posted identity disclosure — outside bytes — to
// the envelope parser and passive authentication: whatever the bytes, an
// error or a verified record, never a panic.
func FuzzEnvelope(f *testing.F) {
	cscas := fuzzCSCA(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := parseEnvelope(data)
		if err != nil {
			return
		}
		rec, err := emrtd.VerifyDisclosure(env.Disclosure, emrtd.DisclosureOptions{CSCAs: cscas, Time: fuzzTime})
		if err != nil {
			return
		}
		if !rec.Verified() || (rec.DataGroups[emrtd.DG1] != nil && rec.MRZ == nil) {
			t.Fatalf("verified record without its status or MRZ: %+v", rec.Verification)
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzEnvelope and the CSCA it
// verifies against when PUCE_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("PUCE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set PUCE_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	prof := emrtdapplet.SampleProfile()
	prof.Photo = emrtdapplet.SamplePhoto(16, 16)
	p, err := emrtdapplet.Personalise(prof, &emrtdapplet.Options{Now: fuzzTime.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "fuzz-csca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CSCA.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := readPassport(t, p)
	dir := filepath.Join("testdata", "fuzz", "FuzzEnvelope")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, dgs := range map[string][]emrtd.DG{"dg1": {emrtd.DG1}, "dg1-dg2": {emrtd.DG1, emrtd.DG2}} {
		b, _ := json.Marshal(map[string]any{"format": envelopeFormat, "origin": "http://localhost:8080",
			"nonce": "PZ1G-Ogm3S6C3riF8K1OfggFOx9KTH-2vKtIpg4ZZVM", "disclosure": disclose(t, rec, dgs...)})
		write("virtual-"+name, b)
	}
	write("not-json", []byte(`{"format":"puce-disclosure:1","disclosure":`))
	write("empty-disclosure", []byte(`{"format":"puce-disclosure:1","disclosure":{"sod":"","dataGroups":{}}}`))
	write("bad-group", []byte(`{"format":"puce-disclosure:1","disclosure":{"sod":"MA==","dataGroups":{"99":"YQ==","-1":"YQ=="}}}`))
}

// TestEnvelopeSeedVerifies keeps the corpus honest: its genuine seed passes
// passive authentication, so the fuzzer starts from the success path too.
func TestEnvelopeSeedVerifies(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzEnvelope", "virtual-dg1-dg2"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := parseEnvelope([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := emrtd.VerifyDisclosure(env.Disclosure, emrtd.DisclosureOptions{CSCAs: fuzzCSCA(t), Time: fuzzTime})
	if err != nil || rec.MRZ == nil || rec.Face() == nil {
		t.Fatalf("the genuine seed does not verify: %v", err)
	}
}
