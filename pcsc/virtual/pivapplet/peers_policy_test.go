//go:build cgo

package pivapplet_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestYubicoPIVToolKeyPolicy: yubico-piv-tool generates keys with the
// vendor's PIN and touch policy tags (AA, AB). A 9A key generated with
// --pin-policy=never then signs with no PIN verified, one with "always"
// does not; the signature key 9C refuses anything weaker than "always".
func TestYubicoPIVToolKeyPolicy(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk := peerTool(t, "yubico-piv-tool", "yubico-piv-tool")
	c := insertPeerCard(t, pc, testcard.Options{Vendor: true})
	tool := func(wantOK bool, args ...string) string {
		return c.run(t, wantOK, yk, append([]string{"-r", "Virtual"}, args...)...)
	}

	for _, tc := range []struct {
		policy, touchPolicy string
		signsNoPIN          bool
	}{
		{"never", "cached", true},
		{"always", "never", false},
	} {
		out := tool(true, "-a", "generate", "-s", "9a", "-A", "ECCP256", "--pin-policy="+tc.policy, "--touch-policy="+tc.touchPolicy)
		block, _ := pem.Decode([]byte(out[strings.Index(out, "-----BEGIN"):]))
		if block == nil {
			t.Fatalf("generate printed no public key:\n%s", out)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		cert := c.file(t, "9a-"+tc.policy+".pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, pub)}))
		out = tool(tc.signsNoPIN, "-a", "test-signature", "-s", "9a", "-H", "SHA256", "-i", cert)
		if tc.signsNoPIN != strings.Contains(out, "Successful ECDSA verification") {
			t.Fatalf("test-signature without the PIN, policy %s:\n%s", tc.policy, out)
		}
		if !tc.signsNoPIN {
			out = tool(true, "-a", "verify-pin", "-P", c.PIN, "-a", "test-signature", "-s", "9a", "-H", "SHA256", "-i", cert)
			if !strings.Contains(out, "Successful ECDSA verification") {
				t.Fatalf("test-signature after the PIN, policy %s:\n%s", tc.policy, out)
			}
		}
	}
	// SP 800-73-4 Part 1 §3.2.1: the PIN before each use of 9C, so the card
	// refuses to relax it; 9C's key and certificate stay as they were.
	tool(false, "-a", "generate", "-s", "9c", "-A", "ECCP256", "--pin-policy=once")
	got := pemCertificate(t, tool(true, "-a", "read-certificate", "-s", "9c"))
	if !got.Equal(c.SignCert) {
		t.Fatal("9C's certificate changed after a refused generate")
	}
}

// selfSigned wraps a public key in a certificate for test-signature, which
// only checks the signature against the certificate's key.
func selfSigned(t *testing.T, pub any) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "policy test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestYubicoPIVToolDecipher: yubico-piv-tool's test-decipher has the key
// management key (9D) decipher an RSA block, or agree an ECDH secret from an
// ephemeral point sent in tag 85 (SP 800-73-4 Part 2 §3.2.4), and checks the
// result against the key in the certificate given.
func TestYubicoPIVToolDecipher(t *testing.T) {
	pc := pcscdtest.Require(t)
	yk := peerTool(t, "yubico-piv-tool", "yubico-piv-tool")
	c := insertPeerCard(t, pc, testcard.Options{})
	tool := func(wantOK bool, args ...string) string {
		return c.run(t, wantOK, yk, append([]string{"-r", "Virtual"}, args...)...)
	}
	for _, tc := range []struct{ alg, want string }{
		{"ECCP256", "Successfully performed ECDH exchange with card"},
		{"ECCP384", "Successfully performed ECDH exchange with card"},
		{"RSA2048", "Successfully performed RSA decryption"},
	} {
		out := tool(true, "-a", "generate", "-s", "9d", "-A", tc.alg)
		block, _ := pem.Decode([]byte(out[strings.Index(out, "-----BEGIN"):]))
		if block == nil {
			t.Fatalf("generate printed no public key:\n%s", out)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		cert := c.file(t, "9d-"+tc.alg+".pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, pub)}))
		if out := tool(true, "-a", "verify-pin", "-P", c.PIN, "-a", "test-decipher", "-s", "9d", "-i", cert); !strings.Contains(out, tc.want) {
			t.Fatalf("test-decipher with %s:\n%s", tc.alg, out)
		}
	}
}
