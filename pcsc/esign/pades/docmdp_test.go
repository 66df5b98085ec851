package pades_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// certify makes a certification signature with DocMDP permissions p at
// level B-T.
func (f *fixture) certify(t *testing.T, pdf []byte, p int) []byte {
	t.Helper()
	pend, err := pades.PrepareCertified(pdf, pades.SignOptions{Certificate: f.cert, Level: pades.LevelBT, Time: f.signedAt}, p)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := f.key.Sign(rand.Reader, pend.Digest, pend.SignerOpts())
	if err != nil {
		t.Fatal(err)
	}
	out, err := pades.Finish(context.Background(), pend, sig, []*x509.Certificate{f.pki.Issuing}, f.services())
	if err != nil {
		t.Fatal(err)
	}
	if q, err := exec.LookPath("qpdf"); err == nil {
		path := filepath.Join(t.TempDir(), "certified.pdf")
		os.WriteFile(path, out, 0o600)
		if msg, err := exec.Command(q, "--check", path).CombinedOutput(); err != nil {
			t.Fatalf("qpdf --check on the certified file: %v\n%s", err, msg)
		}
	}
	return out
}

// TestDocMDPNoChanges: a certification signature with DocMDP P=1 permits
// no change (ISO 32000-1 §12.8.2.2.2, Table 254: "No changes to the
// document shall be permitted; any change to the document shall invalidate
// the signature"): a later approval signature is a change. Long-term
// validation data and document timestamps, which PAdES adds after every
// signature (ETSI EN 319 142-1 §5.4), are not. With P=2 ("filling in
// forms, instantiating page templates, and signing") the later signature
// is permitted.
func TestDocMDPNoChanges(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	ctx := context.Background()
	for _, p := range []int{1, 2} {
		certified := f.certify(t, inputs(t)["contract.pdf"], p)
		ltv, err := pades.AddValidationData(ctx, certified, f.services())
		if err != nil {
			t.Fatal(err)
		}
		if ltv, err = pades.AddDocumentTimestamp(ctx, ltv, f.tsa); err != nil {
			t.Fatal(err)
		}
		rep, err := pades.Verify(ctx, ltv, f.verifyOptions())
		if err != nil {
			t.Fatal(err)
		}
		if s := rep.Signatures[0]; !s.Valid() || s.Level != pades.LevelBLTA {
			t.Fatalf("P=%d, validation data and a document timestamp added: %+v", p, s)
		}

		cosigned := f.sign(t, ltv, pades.LevelBT)
		rep, err = pades.Verify(ctx, cosigned, f.verifyOptions())
		if err != nil {
			t.Fatal(err)
		}
		s := rep.Signatures[0]
		switch {
		case p == 1 && (s.Valid() || !errors.Is(s.Err, pades.ErrChanged)):
			t.Fatalf("P=1, signed again after certification: %+v", s)
		case p == 2 && !s.Valid():
			t.Fatalf("P=2, signed again after certification: %+v", s)
		}
		t.Logf("P=%d: %v", p, s.Changes)
		if last := rep.Signatures[len(rep.Signatures)-1]; !last.Valid() {
			t.Fatalf("the later signature itself: %+v", last)
		}
	}
}
