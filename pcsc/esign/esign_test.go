package esign_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

var document = []byte("Contrat de prêt n° 2026-1142\nMontant : 12 000 EUR\n")

// signWithCard runs the whole flow: the server prepares the attributes, the
// card's 9C key signs their digest after the PIN, the server assembles.
func signWithCard(t testing.TB, alg byte) (*testcard.Card, []byte) {
	t.Helper()
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{SignAlg: alg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := esign.Prepare(document, card.SignCert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := c.Signer(piv.SlotSignature, card.SignCert.PublicKey, &piv.SignerOptions{
		PIN: func(context.Context) (string, error) { return card.PIN, nil }})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.SignContext(ctx, pending.Digest, pending.SignerOpts())
	if err != nil {
		t.Fatal(err)
	}
	p7s, err := pending.Assemble(sig, card.PKI.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	return card, p7s
}

func TestSignAndVerify(t *testing.T) {
	for name, alg := range map[string]byte{"P-256": pivapplet.AlgECCP256, "P-384": pivapplet.AlgECCP384, "RSA-2048": pivapplet.AlgRSA2048} {
		t.Run(name, func(t *testing.T) {
			card, p7s := signWithCard(t, alg)
			rep, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: card.PKI.Roots})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Signer.Equal(card.SignCert) || time.Since(rep.SigningTime) > time.Minute || len(rep.Chain) != 3 {
				t.Fatalf("report %+v", rep)
			}
			altered := bytes.Replace(document, []byte("12 000"), []byte("92 000"), 1)
			if _, err := esign.Verify(altered, p7s, esign.VerifyOptions{Roots: card.PKI.Roots}); !errors.Is(err, esign.ErrDocumentAltered) {
				t.Fatalf("altered document: %v", err)
			}
			other, _ := testcard.New(testcard.Options{})
			if _, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: other.PKI.Roots}); !errors.Is(err, esign.ErrUntrustedSigner) {
				t.Fatalf("another PKI's roots: %v", err)
			}
			bad := bytes.Clone(p7s)
			bad[len(bad)-5] ^= 0x40 // inside the signature value
			if _, err := esign.Verify(document, bad, esign.VerifyOptions{Roots: card.PKI.Roots}); !errors.Is(err, esign.ErrBadSignature) && !errors.Is(err, esign.ErrMalformed) {
				t.Fatalf("tampered signature: %v", err)
			}
		})
	}
}

func TestAssembleRefusesAWrongSignature(t *testing.T) {
	card, _ := testcard.New(testcard.Options{})
	pending, _ := esign.Prepare(document, card.SignCert, time.Now())
	other, _ := esign.Prepare([]byte("other"), card.SignCert, time.Now())
	// Any signature that is not over pending.Digest by the certificate's key.
	if _, err := pending.Assemble(other.Digest); !errors.Is(err, esign.ErrBadSignature) {
		t.Fatalf("assemble with garbage: %v", err)
	}
}

func openssl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not installed under CI: make test installs it")
		}
		t.Skip("SKIPPING OpenSSL interoperability: openssl not installed")
	}
	return p
}

func writePEM(t *testing.T, path string, certs ...*x509.Certificate) {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpenSSLVerifies has OpenSSL check our signatures, as a receiver with
// standard tools would.
func TestOpenSSLVerifies(t *testing.T) {
	bin := openssl(t)
	for name, alg := range map[string]byte{"P-256": pivapplet.AlgECCP256, "RSA-2048": pivapplet.AlgRSA2048} {
		t.Run(name, func(t *testing.T) {
			card, p7s := signWithCard(t, alg)
			dir := t.TempDir()
			doc, sig, ca := filepath.Join(dir, "doc.txt"), filepath.Join(dir, "doc.p7s"), filepath.Join(dir, "ca.pem")
			os.WriteFile(doc, document, 0o600)
			os.WriteFile(sig, p7s, 0o600)
			writePEM(t, ca, card.PKI.Root)
			verify := func() ([]byte, error) {
				return exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", doc,
					"-CAfile", ca, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
			}
			if out, err := verify(); err != nil {
				t.Fatalf("openssl cms -verify: %v\n%s", err, out)
			}
			os.WriteFile(doc, append(bytes.Clone(document), '!'), 0o600)
			if out, err := verify(); err == nil {
				t.Fatalf("openssl accepted an altered document:\n%s", out)
			}
			t.Logf("puce: openssl cms -verify accepted the %s signature and refused the altered document", name)
		})
	}
}

// TestVerifiesOpenSSLSignatures reads CAdES signatures OpenSSL made.
func TestVerifiesOpenSSLSignatures(t *testing.T) {
	bin := openssl(t)
	dir := t.TempDir()
	card, _ := testcard.New(testcard.Options{})
	// OpenSSL needs the private key: a software signer under the test CA.
	signerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signerDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(4242),
		Subject: pkix.Name{CommonName: "OpenSSL signer"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}, card.PKI.Issuing, &signerKey.PublicKey, card.PKI.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	signerCert, _ := x509.ParseCertificate(signerDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(signerKey)
	if err != nil {
		t.Fatal(err)
	}
	doc, sig, cert, key, ca := filepath.Join(dir, "doc"), filepath.Join(dir, "sig"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	os.WriteFile(doc, document, 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	writePEM(t, cert, signerCert)
	chain := filepath.Join(dir, "chain.pem")
	writePEM(t, chain, card.PKI.Issuing)
	writePEM(t, ca, card.PKI.Root)
	out, err := exec.Command(bin, "cms", "-sign", "-binary", "-cades", "-md", "sha256", "-in", doc, "-signer", cert, "-inkey", key, "-certfile", chain,
		"-outform", "DER", "-out", sig).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cms -sign: %v\n%s", err, out)
	}
	p7s, _ := os.ReadFile(sig)
	rep, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: card.PKI.Roots})
	if err != nil {
		t.Fatalf("an OpenSSL CAdES signature: %v", err)
	}
	if !rep.Signer.Equal(signerCert) {
		t.Fatal("wrong signer")
	}
	if _, err := esign.Verify([]byte("other"), p7s, esign.VerifyOptions{Roots: card.PKI.Roots}); !errors.Is(err, esign.ErrDocumentAltered) {
		t.Fatalf("altered: %v", err)
	}
	t.Logf("puce: verified a CAdES signature made by openssl cms -sign -cades")
}

func FuzzVerify(f *testing.F) {
	card, p7s := signWithCard(f, pivapplet.AlgECCP256)
	f.Add(p7s)
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := esign.Verify(document, data, esign.VerifyOptions{Roots: card.PKI.Roots})
		if err != nil && !errors.Is(err, esign.ErrMalformed) && !errors.Is(err, esign.ErrBadSignature) &&
			!errors.Is(err, esign.ErrDocumentAltered) && !errors.Is(err, esign.ErrUntrustedSigner) && !errors.Is(err, esign.ErrUnsupported) {
			t.Fatalf("untyped error %v", err)
		}
		// Only the card's key made a signature here: what verifies names
		// its certificate, on a path to the test root.
		if err == nil && (!rep.Signer.Equal(card.SignCert) || len(rep.Chain) < 2 || !rep.Chain[0].Equal(card.SignCert) ||
			!rep.Chain[len(rep.Chain)-1].Equal(card.PKI.Root)) {
			t.Fatalf("verified with signer %v, chain %d long", rep.Signer.Subject, len(rep.Chain))
		}
	})
}
