package esign_test

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// indefinite re-encodes a DER element's outer length as BER's indefinite
// form (X.690 §8.1.3.6), as streaming encoders such as NSS write it.
func indefinite(t *testing.T, der []byte) []byte {
	t.Helper()
	if len(der) < 2 || der[1] < 0x81 || der[1] > 0x84 {
		t.Fatalf("not a long-form DER element: % x", der[:2])
	}
	body := der[2+int(der[1]&0x7f):]
	return append(append([]byte{der[0], 0x80}, body...), 0, 0)
}

// TestCAdESLTBER: a B-LT signature in BER (NSS, behind LibreOffice's and
// poppler's signing, writes indefinite lengths; RFC 5652 §1.2 asks DER of
// the signed attributes only) verifies at B-LT as its DER form does; the
// check for archive timestamps read it as DER only and failed it as
// malformed.
func TestCAdESLTBER(t *testing.T) {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	signedAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	bb, _ := signedBB(t, pki, signedAt, func(c *x509.Certificate) { c.OCSPServer = []string{"http://ocsp.test.invalid/"} })
	collectedAt := signedAt.Add(2 * time.Minute)
	responder := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, func() time.Time { return collectedAt })
	lt, err := esign.LongTerm(context.Background(), bb, esign.LongTermOptions{
		TSA: testTSA(t, pki, signedAt.Add(time.Minute)), OCSP: responder, Roots: pki.Roots,
		Now: func() time.Time { return collectedAt }})
	if err != nil {
		t.Fatal(err)
	}
	lta, _, err := esign.ArchiveTimestamped(context.Background(), document, lt, testTSA(t, pki, signedAt.Add(3*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	opts := esign.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots}
	for level, der := range map[string][]byte{"B-LT": lt, "B-LTA": lta} {
		rep, err := esign.Verify(document, indefinite(t, der), opts)
		if err != nil || rep.Level != level {
			t.Fatalf("%s in BER: %v, %+v", level, err, rep)
		}
	}
}

// TestLongTermOfBER: LongTerm and ArchiveTimestamped bring a B-B signature
// in BER to B-LT and B-LTA, where both used to refuse what Verify reads as
// malformed; OpenSSL verifies the results.
func TestLongTermOfBER(t *testing.T) {
	e := newOSSLEnv(t)
	now := time.Now().Truncate(time.Second)
	bb, _ := signedBB(t, e.pki, now.Add(-time.Minute), func(c *x509.Certificate) { c.OCSPServer = []string{"http://ocsp.test.invalid/"} })
	responder := ocspresponder.New(e.pki.Issuing, e.pki.IssuingKey, nil, func() time.Time { return now })
	lt, err := esign.LongTerm(context.Background(), indefinite(t, bb), esign.LongTermOptions{
		TSA: testTSA(t, e.pki, now.Add(-time.Minute)), OCSP: responder, Roots: e.pki.Roots, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("LongTerm of a BER signature: %v", err)
	}
	lta, _, err := esign.ArchiveTimestamped(context.Background(), document, indefinite(t, lt), testTSA(t, e.pki, now))
	if err != nil {
		t.Fatalf("ArchiveTimestamped of a BER signature: %v", err)
	}
	opts := esign.VerifyOptions{Roots: e.pki.Roots, TSARoots: e.pki.Roots}
	ca := filepath.Join(e.dir, "ca.pem")
	writePEM(t, ca, e.pki.Root)
	for level, sig := range map[string][]byte{"B-LT": lt, "B-LTA": lta} {
		if rep, err := esign.Verify(document, sig, opts); err != nil || rep.Level != level {
			t.Fatalf("%s from BER: %v, %+v", level, err, rep)
		}
		path := filepath.Join(e.dir, "lt.p7s")
		os.WriteFile(path, sig, 0o600)
		if out, err := exec.Command(e.bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", path, "-content", e.doc,
			"-CAfile", ca, "-purpose", "any", "-out", os.DevNull).CombinedOutput(); err != nil {
			t.Fatalf("openssl cms -verify refuses the %s signature: %v\n%s", level, err, out)
		}
	}
}
