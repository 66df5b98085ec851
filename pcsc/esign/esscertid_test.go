package esign_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestIssuerSerialMismatchRefused: a signing-certificate-v2 whose
// ESSCertIDv2 has the signer's certificate hash but an issuerSerial naming
// another certificate (another serial number) does not identify the
// signer: RFC 5035 §4 and ETSI EN 319 122-1 §5.2.2.3 have both fields
// identify the one certificate. `openssl cms -verify` refuses it; so does
// esign.
func TestIssuerSerialMismatchRefused(t *testing.T) {
	card, _ := testcard.New(testcard.Options{NoSignatureKey: true})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := signerCert(t, card.PKI, key, nil)
	p, err := esign.Prepare(document, cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	goodSig, _ := key.Sign(rand.Reader, p.Digest, p.SignerOpts())
	good, err := p.Assemble(goodSig, card.PKI.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	serial := cert.SerialNumber.Bytes()
	i := bytes.Index(p.SignedAttributes, serial)
	if i < 0 || bytes.Index(p.SignedAttributes[i+1:], serial) >= 0 {
		t.Fatal("the serial number is not in the attributes once")
	}
	p.SignedAttributes = bytes.Clone(p.SignedAttributes)
	p.SignedAttributes[i+len(serial)-1] ^= 1
	d := sha256.Sum256(p.SignedAttributes)
	p.Digest = d[:]
	sig, _ := key.Sign(rand.Reader, p.Digest, p.SignerOpts())
	p7s, err := p.Assemble(sig, card.PKI.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: card.PKI.Roots}); !errors.Is(err, esign.ErrBadSignature) {
		t.Fatalf("issuerSerial naming another certificate: %v, want ErrBadSignature", err)
	}

	if _, err := esign.Verify(document, good, esign.VerifyOptions{Roots: card.PKI.Roots}); err != nil {
		t.Fatalf("the signature before the edit: %v", err)
	}

	bin := openssl(t)
	dir := t.TempDir()
	doc, ca := filepath.Join(dir, "doc"), filepath.Join(dir, "ca.pem")
	os.WriteFile(doc, document, 0o600)
	writePEM(t, ca, card.PKI.Root)
	// -cades: OpenSSL checks the signing-certificate-v2 attribute only then.
	verify := func(p7s []byte) ([]byte, error) {
		sigPath := filepath.Join(dir, "doc.p7s")
		os.WriteFile(sigPath, p7s, 0o600)
		return exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath, "-content", doc,
			"-CAfile", ca, "-purpose", "any", "-cades", "-out", os.DevNull).CombinedOutput()
	}
	if out, err := verify(good); err != nil {
		t.Fatalf("openssl cms -verify -cades refuses puce's signature: %v\n%s", err, out)
	}
	if out, err := verify(p7s); err == nil {
		t.Fatalf("openssl cms -verify -cades accepts issuerSerial naming another certificate:\n%s", out)
	} else {
		t.Logf("openssl: %s", out)
	}
}
