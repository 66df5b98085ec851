package esign_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// testTSA runs the test authority over HTTP with its clock at at, its
// certificate issued by pki's issuing CA.
func testTSA(t *testing.T, pki testcard.PKI, at time.Time) *esign.TSA {
	tsa, _ := testTSAWith(t, pki, at, nil)
	return tsa
}

// testTSAWith is testTSA with the authority's certificate template edited
// first; it returns the certificate too.
func testTSAWith(t *testing.T, pki testcard.PKI, at time.Time, edit func(*x509.Certificate)) (*esign.TSA, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "puce test TSA"},
		NotBefore: at.Add(-24 * time.Hour), NotAfter: at.Add(10 * 365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.Issuing, &key.PublicKey, pki.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	srv := httptest.NewServer(tsaresponder.New(cert, key, []*x509.Certificate{pki.Issuing}, func() time.Time { return at }))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(pki.Root)
	return &esign.TSA{URL: srv.URL, Roots: roots}, cert
}

// TestCAdEST: a signature whose certificate has since expired verifies at
// level B-T, judged at its timestamp's time; without the timestamp (B-B)
// the same signature is refused, since nothing proves when it was made (its
// signing-time attribute is only the signer's claim). OpenSSL still accepts
// the timestamped .p7s (the unsigned attribute changes no signed byte).
func TestCAdEST(t *testing.T) {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	// Within the test CA's validity (it starts a day ago), and long
	// before now.
	signedAt := time.Now().Add(-12 * time.Hour)
	p7s, _ := signedBB(t, pki, signedAt, nil) // its certificate long expired now
	tsa := testTSA(t, pki, signedAt.Add(time.Minute))
	stamped, ts, err := esign.Timestamped(context.Background(), p7s, tsa)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(pki.Root)
	rep, err := esign.Verify(document, stamped, esign.VerifyOptions{Roots: roots, TSARoots: roots})
	if err != nil {
		t.Fatalf("B-T signature of an expired certificate: %v", err)
	}
	if rep.Level != "B-T" || rep.Timestamp == nil || !rep.Timestamp.Time.Equal(ts.Time) {
		t.Fatalf("report %+v", rep)
	}
	if _, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: roots}); !errors.Is(err, esign.ErrUntrustedSigner) {
		t.Fatalf("B-B signature of an expired certificate: %v, want ErrUntrustedSigner (its time cannot be proven)", err)
	}
	if rep, err := esign.Verify(document, stamped, esign.VerifyOptions{Roots: roots, Time: signedAt}); err != nil || rep.Level != "B-B" {
		t.Fatalf("without TSA roots the timestamp is not checked: %+v, %v", rep, err)
	}
	if _, _, err := esign.Timestamped(context.Background(), stamped, tsa); !errors.Is(err, esign.ErrUnsupported) {
		t.Fatalf("a second timestamp: %v", err)
	}

	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not installed under CI")
		}
		return
	}
	dir := t.TempDir()
	sigPath, docPath, caPath := filepath.Join(dir, "s.p7s"), filepath.Join(dir, "doc"), filepath.Join(dir, "ca.pem")
	os.WriteFile(sigPath, stamped, 0o600)
	os.WriteFile(docPath, document, 0o600)
	writePEM(t, caPath, pki.Root)
	// -attime: OpenSSL takes no timestamp into account, so it is told when.
	if out, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath, "-content", docPath,
		"-CAfile", caPath, "-purpose", "any", "-attime", unix(signedAt), "-out", os.DevNull).CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify refuses the CAdES-T signature: %v\n%s", err, out)
	}
}

func unix(t time.Time) string { return big.NewInt(t.Unix()).String() }
