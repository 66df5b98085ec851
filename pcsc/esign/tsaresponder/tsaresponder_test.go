package tsaresponder_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// authority is a responder with a TSA certificate from the test PKI.
func authority(t *testing.T, now func() time.Time) (*tsaresponder.Responder, testcard.PKI, *x509.Certificate) {
	t.Helper()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "puce test TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		// RFC 3161 §2.3: one extended key usage, timeStamping, critical.
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.Issuing, &key.PublicKey, pki.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return tsaresponder.New(cert, key, []*x509.Certificate{pki.Issuing}, now), pki, cert
}

// TestOpenSSLVerifiesOurTokens: tokens of the test authority are accepted
// by `openssl ts -verify` (a peer nobody here wrote) and by
// esign.VerifyTimestamp, over HTTP as RFC 3161 §3.4 carries them.
func TestOpenSSLVerifiesOurTokens(t *testing.T) {
	// A minute ago, within the authority certificate's validity (it starts an
	// hour before now): a fixed date would expire with the wall clock.
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	r, pki, _ := authority(t, func() time.Time { return at })
	srv := httptest.NewServer(r)
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(pki.Root)
	sum := sha256.Sum256([]byte("a signature value"))
	tsa := &esign.TSA{URL: srv.URL, Roots: roots}
	_, ts, err := tsa.Stamp(context.Background(), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Time.Equal(at) || ts.Accuracy != time.Second || ts.Nonce == nil {
		t.Fatalf("timestamp %+v", ts)
	}

	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not installed under CI: make test installs it")
		}
		t.Skip("SKIPPING the OpenSSL check: openssl not installed")
	}
	dir := t.TempDir()
	req, _, _ := esign.TimestampRequest(crypto.SHA256, sum[:])
	resp, err := r.Respond(req)
	if err != nil {
		t.Fatal(err)
	}
	tsr, ca, untrusted := filepath.Join(dir, "r.tsr"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "chain.pem")
	os.WriteFile(tsr, resp, 0o600)
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Raw}), 0o600)
	os.WriteFile(untrusted, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Issuing.Raw}), 0o600)
	verify := func(digest []byte) (string, error) {
		out, err := exec.Command(bin, "ts", "-verify", "-digest", hex.EncodeToString(digest), "-in", tsr,
			"-CAfile", ca, "-untrusted", untrusted).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(sum[:]); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify refuses our token: %v\n%s", err, out)
	}
	other := sha256.Sum256([]byte("another value"))
	if out, err := verify(other[:]); err == nil {
		t.Fatalf("openssl ts -verify accepts our token for other data:\n%s", out)
	}
}

// TestRejectsGarbage: a request the authority cannot read gets a rejection
// status, which the client reports as the authority's refusal.
func TestRejectsGarbage(t *testing.T) {
	r, _, _ := authority(t, nil)
	resp, err := r.Respond([]byte("not a request"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := esign.TimestampToken(resp); !errors.Is(err, esign.ErrTimestamp) {
		t.Fatalf("rejection: %v", err)
	}
}

// TestTSAName: a token whose tsa field names another authority than the
// certificate that signed it is refused, by `openssl ts -verify` ("tsa name
// mismatch") and by esign: RFC 3161 §2.4.2, "if present, it MUST correspond
// to one of the subject names included in the certificate that is to be
// used to verify the token". The certificate's name in another string type
// and case (UTF8String, RFC 5280 §7.1 comparison) is the same name to both.
func TestTSAName(t *testing.T) {
	utf8Name := func(cn string) []byte {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{2, 5, 4, 3})
					b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(cn)) })
				})
			})
		})
		return b.BytesOrPanic()
	}
	other, err := asn1.Marshal(pkix.Name{CommonName: "another TSA"}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("openssl")
	if err != nil && os.Getenv("CI") != "" {
		t.Fatal("openssl not installed under CI: make test installs it")
	}
	for _, tc := range []struct {
		what string
		name []byte
		ok   bool
	}{
		{"another authority", other, false},
		{"another authority, UTF8String", utf8Name("another TSA"), false},
		{"the certificate's subject in UTF8String, other case", utf8Name("PUCE  Test TSA"), true},
	} {
		r, pki, _ := authority(t, nil)
		r.SetName(tc.name)
		sum := sha256.Sum256([]byte("a signature value"))
		req, _, _ := esign.TimestampRequest(crypto.SHA256, sum[:])
		resp, err := r.Respond(req)
		if err != nil {
			t.Fatal(err)
		}
		token, err := esign.TimestampToken(resp)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(pki.Root)
		_, err = esign.VerifyTimestamp(token, crypto.SHA256, sum[:], esign.TimestampOptions{Roots: roots})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, esign.ErrTimestamp)) {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if bin == "" {
			t.Log("SKIPPING the OpenSSL check: openssl not installed")
			continue
		}
		dir := t.TempDir()
		tsr, ca, untrusted := filepath.Join(dir, "r.tsr"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "chain.pem")
		os.WriteFile(tsr, resp, 0o600)
		os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Raw}), 0o600)
		os.WriteFile(untrusted, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Issuing.Raw}), 0o600)
		out, err := exec.Command(bin, "ts", "-verify", "-digest", hex.EncodeToString(sum[:]), "-in", tsr,
			"-CAfile", ca, "-untrusted", untrusted).CombinedOutput()
		if (err == nil) != tc.ok || (!tc.ok && !strings.Contains(string(out), "tsa name mismatch")) {
			t.Fatalf("%s: openssl ts -verify: %v\n%s", tc.what, err, out)
		}
	}
}
