package pades_test

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
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// TestDSSCRLs: CRLs in the document security store (ETSI EN 319 142-1
// §5.4.2.2, /CRLs) judge the signer's certificate at the timestamp's time
// as OCSP answers do: one listing it revoked before the timestamp makes the
// signature esign.ErrRevoked — it was ignored, leaving the signature valid
// at B-T — and one issued after the timestamp that does not list it brings
// the signature to B-LT. qpdf accepts the files.
func TestDSSCRLs(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)
	crl := func(revoked bool) []byte {
		tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: f.signedAt.Add(time.Second), NextUpdate: f.signedAt.Add(24 * time.Hour)}
		if revoked {
			tmpl.RevokedCertificateEntries = []x509.RevocationListEntry{{SerialNumber: f.cert.SerialNumber, RevocationTime: f.signedAt.Add(-time.Minute), ReasonCode: 1}}
		}
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, f.pki.Issuing, f.pki.IssuingKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for _, revoked := range []bool{false, true} {
		pdf, err := pades.WithDSS(signed, &esign.ValidationData{CRLs: [][]byte{crl(revoked)}})
		if err != nil {
			t.Fatal(err)
		}
		if q, err := exec.LookPath("qpdf"); err == nil {
			path := filepath.Join(t.TempDir(), "crl.pdf")
			os.WriteFile(path, pdf, 0o600)
			if out, err := exec.Command(q, "--check", path).CombinedOutput(); err != nil {
				t.Fatalf("qpdf --check: %v\n%s", err, out)
			}
		}
		rep, err := pades.Verify(context.Background(), pdf, f.verifyOptions())
		if err != nil {
			t.Fatal(err)
		}
		s := rep.Signatures[0]
		switch {
		case revoked && !errors.Is(s.Err, esign.ErrRevoked):
			t.Fatalf("a CRL listing the signer revoked before the timestamp: %+v", s)
		case !revoked && (!s.Valid() || s.Level != pades.LevelBLT):
			t.Fatalf("a CRL issued after the timestamp, signer not listed: %+v", s)
		}
	}
}

// TestDSSExtendedInPlace: a document security store extended in place —
// its dictionary and /Certs array rewritten under their own object numbers,
// as a signer that keeps one store adds to it — is long-term validation
// data, which ETSI EN 319 142-1 §5.4 adds after a signature: not a change
// to the signed document. It was reported as "content changed". The
// extended file passes qpdf --check.
func TestDSSExtendedInPlace(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	for file, pdf := range inputs(t) {
		// A second signature whose signed revision holds the store of the
		// first: the store then changes after it.
		lt := f.sign(t, f.sign(t, pdf, pades.LevelBLT), pades.LevelBT)
		once, err := pades.AppendDSSInPlace(lt, f.tsaCert.Raw)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := pades.AppendDSSInPlace(once, f.pki.Root.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if q, err := exec.LookPath("qpdf"); err == nil {
			path := filepath.Join(t.TempDir(), "dss.pdf")
			os.WriteFile(path, twice, 0o600)
			if out, err := exec.Command(q, "--check", path).CombinedOutput(); err != nil {
				t.Fatalf("qpdf --check: %v\n%s", err, out)
			}
		}
		rep, err := pades.Verify(context.Background(), twice, f.verifyOptions())
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range rep.Signatures {
			if !s.Valid() || s.ChangedAfterSigning {
				t.Fatalf("%s: signature %d, the DSS extended in place: %+v", file, i, s)
			}
		}
		// Content changed beside it still counts.
		rep, err = pades.Verify(context.Background(), appendContentChange(t, twice), f.verifyOptions())
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range rep.Signatures {
			if !errors.Is(s.Err, pades.ErrChanged) {
				t.Fatalf("%s: signature %d, content changed after the DSS: %+v", file, i, s)
			}
		}
	}
}

// TestLTANeedsTimestampOverValidationData: B-LTA is a document timestamp
// over the signature and its validation data (ETSI EN 319 142-1 §6.3,
// level B-LTA; §5.4.3): a document timestamp made before the DSS was added
// protects the signature, not the data that makes it B-LT, so the
// signature is at B-LT. It was reported B-LTA. With a second document
// timestamp after the DSS it is B-LTA.
func TestLTANeedsTimestampOverValidationData(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	ctx := context.Background()
	bt := f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)
	dts, err := pades.AddDocumentTimestamp(ctx, bt, f.tsa)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := pades.AddValidationData(ctx, dts, f.services())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pades.Verify(ctx, lt, f.verifyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Signatures[0]; !s.Valid() || s.Level != pades.LevelBLT {
		t.Fatalf("document timestamp before the DSS: %v, %+v", s.Level, s)
	}
	lta, err := pades.AddDocumentTimestamp(ctx, lt, f.tsa)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err = pades.Verify(ctx, lta, f.verifyOptions()); err != nil || !rep.Signatures[0].Valid() || rep.Signatures[0].Level != pades.LevelBLTA {
		t.Fatalf("a second document timestamp after the DSS: %v, %+v", err, rep)
	}
}

// TestSharedSignatureVerifiedOnce: a hostile file names one signature
// dictionary from a thousand fields; its signature (with the document
// security store's every answer) is checked once, and each field reports
// the same verdict. Fields sharing a signature are a change after it.
func TestSharedSignatureVerifiedOnce(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	lt := f.sign(t, inputs(t)["contract.pdf"], pades.LevelBLT)
	many, err := pades.AppendFieldsSharingSignature(lt, 999)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := pades.Verify(context.Background(), many, f.verifyOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1000 fields naming one signature: verified in %v", time.Since(start))
	if len(rep.Signatures) != 1000 {
		t.Fatalf("%d signatures reported", len(rep.Signatures))
	}
	for _, s := range rep.Signatures {
		if s.Signer == nil || s.Level != pades.LevelBLT || !errors.Is(s.Err, pades.ErrChanged) {
			t.Fatalf("%s: %+v", s.Field, s)
		}
	}
}
