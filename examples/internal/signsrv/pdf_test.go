package signsrv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// The verify page reads a PDF without a signature file as a signed PDF:
// one without a signature, or not a PDF it can read, is said so plainly.
// (Signed PDFs, valid and changed: examples/browsertest.)
func TestVerifyPageUnsignedPDF(t *testing.T) {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Origin: "http://localhost", Roots: card.PKI.Roots, NoOCSP: true, TSA: &esign.TSA{URL: "http://127.0.0.1:1", Roots: card.PKI.Roots}})
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := os.ReadFile(filepath.Join("..", "..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.verifyPDF(context.Background(), pdf); !strings.HasPrefix(d.Verdict, "NOT SIGNED") || len(d.Signatures) != 0 {
		t.Fatalf("unsigned PDF: %+v", d)
	}
	if d := s.verifyPDF(context.Background(), []byte("%PDF-1.7\ngarbage")); !strings.HasPrefix(d.Verdict, "This is not a PDF") {
		t.Fatalf("broken PDF: %+v", d)
	}
}

// A signature refused for its timestamp, or for its timestamping
// authority's revocation, is said so, not read as an unreadable file or a
// generic failure.
func TestPDFVerdictTimestamp(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("%w: on …", esign.ErrAuthorityRevoked): "TIME NOT TRUSTED",
		fmt.Errorf("%w: imprint", esign.ErrTimestamp):     "INVALID TIMESTAMP",
	} {
		if got, class := pdfVerdict(&pades.SignatureReport{Err: err}); !strings.HasPrefix(got, want) || class != "bad" {
			t.Errorf("%v: %q (%s), want %s", err, got, class, want)
		}
	}
}

// A second signer's visible signature drawn over the first signer's page
// (the "sneaky signature") is a permitted change that keeps the first
// signature valid: the verify page says so, and says where it draws.
func TestVerifyPageNamesOverlays(t *testing.T) {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	pki := card.PKI
	sign := func(pdf []byte, name string, ap *pades.Appearance) []byte {
		t.Helper()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature},
			pki.Issuing, &key.PublicKey, pki.IssuingKey)
		cert, _ := x509.ParseCertificate(der)
		pending, err := pades.Prepare(pdf, pades.SignOptions{Certificate: cert, Level: pades.LevelBB, Appearance: ap})
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := key.Sign(rand.Reader, pending.Digest, pending.SignerOpts())
		out, err := pades.Finish(ctx, pending, sig, []*x509.Certificate{pki.Issuing}, pades.Services{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	contract, err := os.ReadFile(filepath.Join("..", "..", "..", "pcsc", "esign", "pades", "testdata", "contract.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	first := sign(contract, "Alice Martin", nil)
	both := sign(first, "Mallory", &pades.Appearance{Rect: [4]float64{60, 690, 540, 780}, Lines: []string{"Amount: 92,000 EUR"}})

	s, err := New(Config{Origin: "http://localhost", Roots: pki.Roots, NoOCSP: true, TSA: &esign.TSA{URL: "http://127.0.0.1:1", Roots: pki.Roots}})
	if err != nil {
		t.Fatal(err)
	}
	d := s.verifyPDF(ctx, both)
	if d.VerdictClass != "warn" || !strings.Contains(d.Verdict, "draw over signed pages") || len(d.Signatures) != 2 {
		t.Fatalf("verdict %q (%s), %d signatures", d.Verdict, d.VerdictClass, len(d.Signatures))
	}
	if o := d.Signatures[0].Overlays; len(o) != 1 || !strings.Contains(o[0], "page 1, at (60, 690)–(540, 780): the appearance of signature Signature2 draws there") {
		t.Fatalf("first signature's overlays: %q", o)
	}
	if d := s.verifyPDF(ctx, first); d.VerdictClass != "ok" || len(d.Signatures[0].Overlays) != 0 {
		t.Fatalf("one signature: %q, overlays %q", d.Verdict, d.Signatures[0].Overlays)
	}
}

// What the verify page says of each kind of overlay.
func TestOverlayText(t *testing.T) {
	for o, want := range map[pades.Overlay]string{
		{Page: 1, Rect: [4]float64{60, 690, 540, 780}, Annotation: "Widget", Field: "Signature2"}: "page 1, at (60, 690)–(540, 780): the appearance of signature Signature2 draws there",
		{Page: 2, Rect: [4]float64{1, 2, 3, 4}, Annotation: "Widget", FormField: "amount"}:        "page 2, at (1, 2)–(3, 4): form field amount, filled in after signing, draws there",
		{Page: 3, Rect: [4]float64{1, 2, 3, 4}, Annotation: "FreeText"}:                           "page 3, at (1, 2)–(3, 4): an annotation (FreeText) draws there",
		{Page: 3, Rect: [4]float64{1, 2, 3, 4}, Annotation: "Square", Removed: true}:              "page 3, at (1, 2)–(3, 4): an annotation (Square) was removed after signing: what it covered shows again",
	} {
		if got := overlayText(o); got != want {
			t.Errorf("%+v: %q, want %q", o, got, want)
		}
	}
}
