package esign_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestLTANeedsArchiveOverValidationData: B-LTA is an archive timestamp over
// the signature and the validation data that makes it B-LT (ETSI EN 319
// 122-1 §5.5.3, §6.3 level B-LTA). Validation data added after the archive
// timestamp, which its hash index allows (more data, to validate the
// timestamp itself), makes the signature B-LT, not B-LTA; it was reported
// B-LTA.
func TestLTANeedsArchiveOverValidationData(t *testing.T) {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	signedAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	bb, _ := signedBB(t, pki, signedAt, func(c *x509.Certificate) { c.OCSPServer = []string{"http://ocsp.test.invalid/"} })
	ctx := context.Background()
	bt, _, err := esign.Timestamped(ctx, bb, testTSA(t, pki, signedAt.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	ata, _, err := esign.ArchiveTimestamped(ctx, document, bt, testTSA(t, pki, signedAt.Add(2*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	collectedAt := signedAt.Add(3 * time.Minute)
	vd, err := esign.ValidationDataOf(ctx, ata, esign.LongTermOptions{OCSP: ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, func() time.Time { return collectedAt }),
		Roots: pki.Roots, Now: func() time.Time { return collectedAt }})
	if err != nil {
		t.Fatal(err)
	}
	late, err := esign.WithValidationData(ata, vd)
	if err != nil {
		t.Fatal(err)
	}
	opts := esign.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots}
	if rep, err := esign.Verify(document, late, opts); err != nil || rep.Level != "B-LT" {
		t.Fatalf("validation data added after the archive timestamp: %v, %+v", err, rep)
	}
	renewed, _, err := esign.ArchiveTimestamped(ctx, document, late, testTSA(t, pki, signedAt.Add(4*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := esign.Verify(document, renewed, opts); err != nil || rep.Level != "B-LTA" {
		t.Fatalf("an archive timestamp over it: %v, %+v", err, rep)
	}
}
