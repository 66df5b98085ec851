package pades_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
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

// FuzzRebuild feeds arbitrary updates to the holder's check of the bytes
// its card signs (SignRequest.Rebuild), for a request whose signed ranges
// are those of the document shown followed by the update, so that every
// input reaches the parse of the rebuilt revision: never a panic, every
// refusal ErrRequest, and what passes begins with the document shown. The
// seeds (in testdata/fuzz/FuzzRebuild too) are honest updates, invisible
// and visible, over a classic cross-reference table and a stream, and the
// hostile ones of TestHolderChecksSignedBytes.
func FuzzRebuild(f *testing.F) {
	shown := [][]byte{}
	for _, n := range []string{"contract.pdf", "contract-objstm.pdf"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		shown = append(shown, b)
	}
	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	// A signer of its own: the update holds nothing of its certificate,
	// and each fuzzing worker runs this setup again.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Alice"},
		NotBefore: at, NotAfter: at.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, &x509.Certificate{SerialNumber: big.NewInt(1)}, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	for i, doc := range shown {
		for _, ap := range []*pades.Appearance{nil, {Rect: [4]float64{320, 40, 560, 110}, Lines: []string{"Signed by Alice", "2026-11-02"}}} {
			p, err := pades.Prepare(doc, pades.SignOptions{Certificate: cert, Level: pades.LevelBB, Time: at, Appearance: ap})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), p.Update())
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, update []byte) {
		doc := shown[int(which)%len(shown)]
		sum := sha256.Sum256(doc)
		ranges := sha256.New()
		ranges.Write(doc)
		ranges.Write(update)
		r := &pades.SignRequest{DocumentSHA256: sum[:], Size: len(doc), SignedRanges: ranges.Sum(nil), SigningTime: at, Update: update}
		rev, err := r.Rebuild(doc)
		if err != nil {
			if !errors.Is(err, pades.ErrRequest) || !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.HasPrefix(rev.PDF, doc) || len(rev.PDF) <= len(doc)+len(update) {
			t.Fatalf("rebuilt %d bytes from %d and %d", len(rev.PDF), len(doc), len(update))
		}
	})
}
