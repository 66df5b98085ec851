package ocspresponder_test

import (
	"encoding/pem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestOpenSSLClient has OpenSSL's OCSP client ask the test responder over
// HTTP, with a nonce, as an outside relying party would: it must find the
// answer signed by the issuer, the nonce echoed where RFC 6960 §4.4.1 puts
// it (responseExtensions; OpenSSL warns "no nonce in response" otherwise),
// and the status and revocation reason as set.
func TestOpenSSLClient(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not installed under CI")
		}
		t.Skip("openssl not installed")
	}
	card, err := testcard.New(testcard.Options{OCSPURL: "http://ocsp.test.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	r := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, nil)
	srv := httptest.NewServer(r)
	defer srv.Close()
	dir := t.TempDir()
	write := func(name string, ders ...[]byte) string {
		var b []byte
		for _, d := range ders {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	issuer, cert, roots := write("issuer.pem", pki.Issuing.Raw), write("card.pem", card.AuthCert.Raw), write("roots.pem", pki.Root.Raw)
	ask := func() string {
		t.Helper()
		out, err := exec.Command(bin, "ocsp", "-issuer", issuer, "-cert", cert, "-url", srv.URL, "-CAfile", roots,
			"-VAfile", issuer).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		return string(out)
	}

	out := ask()
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "card.pem: good") || strings.Contains(out, "nonce") {
		t.Fatalf("good certificate, openssl says:\n%s", out)
	}
	r.Revoke(card.AuthCert.SerialNumber, time.Now().Add(-time.Hour), 1)
	out = ask()
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "card.pem: revoked") ||
		!strings.Contains(out, "keyCompromise") || strings.Contains(out, "nonce") {
		t.Fatalf("revoked certificate, openssl says:\n%s", out)
	}
	t.Logf("openssl ocsp:\n%s", out)
}
