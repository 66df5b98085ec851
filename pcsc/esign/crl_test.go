package esign_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// issueCRL is a CRL of pki's issuing CA, issued at thisUpdate, listing
// revoked (serial → revocation time).
func issueCRL(t *testing.T, pki testcard.PKI, thisUpdate time.Time, revoked map[*big.Int]time.Time) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(thisUpdate.Unix()), ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(24 * time.Hour)}
	for serial, at := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: serial, RevocationTime: at, ReasonCode: 1})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, pki.Issuing, pki.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCRLValidationData: CRLs kept with the signature (RFC 5652 §10.2.1,
// CertificateList among SignedData.crls; the PDF DSS's /CRLs) judge the
// signer's certificate at the timestamp's time as OCSP answers do (ETSI
// EN 319 122-1 §5.5, B-LT; RFC 5280 §6.3): a CRL issued after the
// timestamp that does not list it proves it good (B-LT); one that lists it
// revoked before the timestamp makes the signature ErrRevoked — it was
// ignored, leaving the signature valid at B-T; a revocation after the
// timestamp leaves it valid. `openssl cms -verify -crl_check`, which reads
// the CRLs in the SignedData, judges at one time, -attime, taken after the
// CRLs were issued: it agrees but for the revocation after the timestamp,
// which it holds against the signature, having no timestamp to weigh.
func TestCRLValidationData(t *testing.T) {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	signedAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	bb, cert := signedBB(t, pki, signedAt, func(c *x509.Certificate) { c.CRLDistributionPoints = []string{"http://crl.test.invalid/issuing.crl"} })
	bt, _, err := esign.Timestamped(context.Background(), bb, testTSA(t, pki, signedAt.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	later := signedAt.Add(10 * time.Minute)
	opts := esign.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots}
	bin := openssl(t)
	dir := t.TempDir()
	doc, ca := filepath.Join(dir, "doc"), filepath.Join(dir, "ca.pem")
	os.WriteFile(doc, document, 0o600)
	writePEM(t, ca, pki.Root)
	for _, tc := range []struct {
		name      string
		crl       []byte
		level     string
		revoked   bool
		osslAgree bool // openssl -crl_check accepts, at a time after the CRLs
	}{
		{"not listed, issued after the timestamp", issueCRL(t, pki, later, nil), "B-LT", false, true},
		{"revoked before the timestamp", issueCRL(t, pki, later, map[*big.Int]time.Time{cert.SerialNumber: signedAt.Add(-time.Minute)}), "", true, false},
		{"revoked after the timestamp", issueCRL(t, pki, later, map[*big.Int]time.Time{cert.SerialNumber: signedAt.Add(5 * time.Minute)}), "B-LT", false, false},
		{"not listed, issued before the timestamp", issueCRL(t, pki, signedAt.Add(-30*time.Minute), nil), "B-T", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := esign.WithValidationData(bt, &esign.ValidationData{CRLs: [][]byte{tc.crl}})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := esign.Verify(document, sig, opts)
			switch {
			case tc.revoked && !errors.Is(err, esign.ErrRevoked):
				t.Fatalf("want ErrRevoked, got %v, %+v", err, rep)
			case !tc.revoked && (err != nil || rep.Level != tc.level):
				t.Fatalf("want %s, got %v, %+v", tc.level, err, rep)
			}
			path := filepath.Join(dir, "s.p7s")
			os.WriteFile(path, sig, 0o600)
			out, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", path, "-content", doc, "-CAfile", ca,
				"-purpose", "any", "-crl_check", "-attime", unix(later.Add(time.Minute)), "-out", os.DevNull).CombinedOutput()
			if (err == nil) != tc.osslAgree {
				t.Fatalf("openssl cms -verify -crl_check: %v\n%s", err, out)
			}
		})
	}
}
