package pades_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// FuzzVerify feeds arbitrary bytes to the PDF reader and the verifier:
// never a panic, and an unreadable file is a typed error. The seeds are the
// test inputs and signed copies of them at each level (in testdata/fuzz).
func FuzzVerify(f *testing.F) {
	for _, n := range []string{"contract.pdf", "contract-objstm.pdf", "contract-gs.pdf", "contract-linearized.pdf", "contract-linearized-objstm.pdf"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	opts := pades.VerifyOptions{}
	fx := newFixture(f, time.Now(), time.Hour)
	f.Fuzz(func(t *testing.T, pdf []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rep, err := pades.Verify(ctx, pdf, opts)
		if err == nil && len(rep.Signatures) == 0 {
			t.Fatal("a report without signatures and no error")
		}
		if err != nil && !errors.Is(err, pades.ErrMalformed) && !errors.Is(err, pades.ErrTooLarge) &&
			!errors.Is(err, pades.ErrUnsupported) && !errors.Is(err, pades.ErrNoSignature) {
			t.Fatalf("untyped error %v", err)
		}
		if _, err := pades.UnmarshalPending(pdf); err != nil && !errors.Is(err, pades.ErrMalformed) && !errors.Is(err, esign.ErrUnsupported) {
			t.Fatalf("untyped error %v", err)
		}
		// Preparing a signature reads the same structure and writes an
		// update: it must fail cleanly too, or give a readable file.
		if p, err := pades.Prepare(pdf, pades.SignOptions{Certificate: fx.cert}); err == nil {
			pending, at, n := p.Prepared()
			if _, err := pades.Fill(pending, at, n, []byte{0x30, 0x00}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
