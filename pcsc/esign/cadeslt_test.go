package esign_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestCAdESLT is the must-show for the detached .p7s: a signature made 12
// hours ago, brought to B-LT then (timestamp, chain, OCSP answer), still
// verifies as valid at its signing time — with no network — after its
// certificate has expired and the CA has revoked it, and with the CA's live
// answer "revoked" too, the revocation being later than the timestamp. The
// same signature at B-B reports that its time cannot be proven. An archive
// timestamp brings it to B-LTA, and again to renew it. OpenSSL still reads
// the B-LT and B-LTA SignedData (version 5, OCSP answers in crls, archive
// timestamps among the unsigned attributes).
func TestCAdESLT(t *testing.T) {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	signedAt := time.Now().Add(-12 * time.Hour).Truncate(time.Second)
	bb, cert := signedBB(t, pki, signedAt, func(c *x509.Certificate) { c.OCSPServer = []string{"http://ocsp.test.invalid/"} })
	collectedAt := signedAt.Add(2 * time.Minute)
	responder := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, func() time.Time { return collectedAt })
	lt, err := esign.LongTerm(context.Background(), bb, esign.LongTermOptions{
		TSA: testTSA(t, pki, signedAt.Add(time.Minute)), OCSP: responder, Roots: pki.Roots,
		Now: func() time.Time { return collectedAt }})
	if err != nil {
		t.Fatal(err)
	}

	// Now: expired, and revoked an hour ago.
	revokedAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	responder.Revoke(cert.SerialNumber, revokedAt, 1)
	opts := esign.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots}
	rep, err := esign.Verify(document, lt, opts)
	if err != nil {
		t.Fatalf("B-LT signature, certificate since expired and revoked: %v", err)
	}
	if rep.Level != "B-LT" || rep.Status == nil || !rep.Status.Good || !rep.Status.ThisUpdate.Equal(collectedAt) ||
		!rep.Timestamp.Time.Equal(signedAt.Add(time.Minute)) {
		t.Fatalf("report: level %s, status %+v", rep.Level, rep.Status)
	}
	t.Logf("B-LT: valid at %s (status %+v), certificate expired %s, revoked %s", rep.Timestamp.Time, *rep.Status, cert.NotAfter, revokedAt)

	// B-LTA: an archive timestamp over it all, verified.
	lta, ats, err := esign.ArchiveTimestamped(context.Background(), document, lt, testTSA(t, pki, signedAt.Add(3*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err = esign.Verify(document, lta, opts)
	if err != nil || rep.Level != "B-LTA" || rep.ArchiveTimestamp == nil || !rep.ArchiveTimestamp.Time.Equal(ats.Time) {
		t.Fatalf("B-LTA: %v, %+v", err, rep)
	}
	if _, err := esign.Verify(append(bytes.Clone(document), '!'), lta, opts); !errors.Is(err, esign.ErrDocumentAltered) {
		t.Fatalf("B-LTA, other document: %v", err)
	}
	lta2, _, err := esign.ArchiveTimestamped(context.Background(), document, lta, testTSA(t, pki, signedAt.Add(4*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := esign.Verify(document, lta2, opts); err != nil || rep.Level != "B-LTA" || !rep.ArchiveTimestamp.Time.Equal(signedAt.Add(4*time.Minute)) {
		t.Fatalf("renewed B-LTA: %v, %+v", err, rep)
	}

	responder2 := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, nil)
	responder2.Revoke(cert.SerialNumber, revokedAt, 1)
	opts.OCSP = &ocsp.Checker{Client: responder2}
	if rep, err = esign.Verify(document, lt, opts); err != nil || rep.Revocation == nil || !rep.Revocation.Revoked {
		t.Fatalf("B-LT with the CA's live answer, revoked after the timestamp: %v, %+v", err, rep)
	}

	_, err = esign.Verify(document, bb, esign.VerifyOptions{Roots: pki.Roots})
	if !errors.Is(err, esign.ErrTimeNotProven) || !errors.Is(err, esign.ErrUntrustedSigner) {
		t.Fatalf("B-B of an expired certificate: %v, want ErrTimeNotProven", err)
	}
	t.Logf("B-B: %v", err)

	// Validation data that does not prove the status at the timestamp's
	// time (an answer produced before it) leaves the signature at B-T.
	early := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, func() time.Time { return signedAt.Add(-30 * time.Minute) })
	der, _ := early.Respond(ocspRequest(t, cert, pki.Issuing))
	bt, _, err := esign.Timestamped(context.Background(), bb, testTSA(t, pki, signedAt.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	stale, err := esign.WithValidationData(bt, &esign.ValidationData{OCSP: [][]byte{der}})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := esign.Verify(document, stale, esign.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots}); err != nil || rep.Level != "B-T" {
		t.Fatalf("an answer older than the timestamp: %v, %+v", err, rep)
	}

	// An answer that the certificate was revoked before the timestamp's
	// time: revoked at signing time, whatever else the data says.
	revokedEarly := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, func() time.Time { return collectedAt })
	revokedEarly.Revoke(cert.SerialNumber, signedAt.Add(-time.Minute), 1)
	der, _ = revokedEarly.Respond(ocspRequest(t, cert, pki.Issuing))
	withRevoked, err := esign.WithValidationData(bt, &esign.ValidationData{OCSP: [][]byte{der}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := esign.Verify(document, withRevoked, esign.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots}); !errors.Is(err, esign.ErrRevoked) {
		t.Fatalf("revoked before the timestamp: %v, want ErrRevoked", err)
	}
	// And LongTerm refuses to collect a revoked certificate's data.
	if _, err := esign.LongTerm(context.Background(), bt, esign.LongTermOptions{OCSP: revokedEarly, Roots: pki.Roots,
		Now: func() time.Time { return collectedAt }}); !errors.Is(err, esign.ErrNoValidationData) || !errors.Is(err, esign.ErrRevoked) {
		t.Fatalf("collecting for a revoked certificate: %v", err)
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
	os.WriteFile(docPath, document, 0o600)
	writePEM(t, caPath, pki.Root)
	for level, sig := range map[string][]byte{"B-LT": lt, "B-LTA": lta2} {
		os.WriteFile(sigPath, sig, 0o600)
		if out, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath, "-content", docPath,
			"-CAfile", caPath, "-purpose", "any", "-attime", unix(signedAt), "-out", os.DevNull).CombinedOutput(); err != nil {
			t.Fatalf("openssl cms -verify refuses the CAdES %s signature: %v\n%s", level, err, out)
		}
	}
}

func ocspRequest(t *testing.T, cert, issuer *x509.Certificate) []byte {
	t.Helper()
	req, err := xocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
