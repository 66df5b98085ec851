package signsrv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
