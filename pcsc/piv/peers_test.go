//go:build cgo

package piv_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestCompressedCertificateFromYubicoPIVTool: yubico-piv-tool stores a
// certificate gzip-compressed when told (-K GZIP), marking it in the
// CertInfo byte (SP 800-73-4 Part 1, Table 10 note), as middleware reads
// them; puce's client reads it back through pcscd and finds the certificate
// the tool was given.
func TestCompressedCertificateFromYubicoPIVTool(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk, err := exec.LookPath("yubico-piv-tool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("yubico-piv-tool is not installed and CI=true: make test installs it (apt-get install yubico-piv-tool)")
		}
		t.Skipf("SKIPPING %s: yubico-piv-tool is not installed (apt-get install yubico-piv-tool)", t.Name())
	}
	tc, err := testcard.New(testcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := tc.SignCert // another slot's certificate, so the read cannot see the old one
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(want.Raw)
	w.Close()
	in := filepath.Join(t.TempDir(), "cert.der.gz")
	if err := os.WriteFile(in, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	transport := pcscdtest.Attach(t, pc, tc.Card, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, yk, "-r", "Virtual", "-a", "import-certificate", "-s", "9a", "-K", "GZIP", "-i", in).CombinedOutput()
	if err != nil {
		t.Fatalf("yubico-piv-tool import-certificate -K GZIP: %v\n%s", err, out)
	}
	card, err := piv.Open(ctx, transport, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := card.Certificate(ctx, piv.SlotAuthentication)
	if err != nil {
		t.Fatalf("the compressed certificate: %v", err)
	}
	if !got.Equal(want) {
		t.Fatalf("read %s, want %s", got.Subject, want.Subject)
	}
}
