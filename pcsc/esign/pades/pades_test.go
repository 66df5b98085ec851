package pades_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
)

// TestLevels signs each input PDF at each level and verifies it: the
// original bytes stay a prefix of the signed file, the level is reached,
// and the later updates (validation data, document timestamp) are not
// changes.
func TestLevels(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), 2*365*24*time.Hour)
	for file, pdf := range inputs(t) {
		for _, level := range []pades.Level{pades.LevelBB, pades.LevelBT, pades.LevelBLT, pades.LevelBLTA} {
			t.Run(file+"/"+level.String(), func(t *testing.T) {
				signed := f.sign(t, pdf, level)
				if !bytes.HasPrefix(signed, pdf) {
					t.Fatal("the original bytes changed")
				}
				rep, err := pades.Verify(context.Background(), signed, f.verifyOptions())
				if err != nil {
					t.Fatal(err)
				}
				want := 1
				if level == pades.LevelBLTA {
					want = 2
				}
				if len(rep.Signatures) != want {
					t.Fatalf("%d signatures, want %d", len(rep.Signatures), want)
				}
				s := rep.Signatures[0]
				if !s.Valid() || s.Level != level || s.Signer == nil || !s.Signer.Equal(f.cert) || !s.ClaimedTime.Equal(f.signedAt) {
					t.Fatalf("report %+v", s)
				}
				if s.WholeDocument != (level <= pades.LevelBT) || s.ChangedAfterSigning {
					t.Fatalf("whole %v, changed %v %v", s.WholeDocument, s.ChangedAfterSigning, s.Changes)
				}
				if level >= pades.LevelBT && (s.Timestamp == nil || !s.Timestamp.Time.Equal(f.signedAt)) {
					t.Fatalf("timestamp %+v", s.Timestamp)
				}
				if level >= pades.LevelBLT && (s.Status == nil || !s.Status.Good) {
					t.Fatalf("status %+v", s.Status)
				}
				if level == pades.LevelBLTA {
					d := rep.Signatures[1]
					if !d.DocumentTimestamp || !d.Valid() || !d.WholeDocument || d.Timestamp == nil {
						t.Fatalf("document timestamp %+v", d)
					}
				}
			})
		}
	}
}

// TestLongTermMustShow: a B-LT signature made 12 hours ago by a
// certificate that has since expired and been revoked verifies as valid at
// its signing time from the embedded data alone; the same document signed
// at B-B reports that its time cannot be proven.
func TestLongTermMustShow(t *testing.T) {
	signedAt := time.Now().Add(-12 * time.Hour).Truncate(time.Second)
	f := newFixture(t, signedAt, 2*time.Hour) // expired 10 hours ago
	pdf := inputs(t)["contract.pdf"]
	lt := f.sign(t, pdf, pades.LevelBLT)
	bb := f.sign(t, pdf, pades.LevelBB)
	f.ocsp.Revoke(f.cert.SerialNumber, time.Now().Add(-time.Hour), 1)

	rep, err := pades.Verify(context.Background(), lt, f.verifyOptions())
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Signatures[0]
	if !s.Valid() || s.Level != pades.LevelBLT || s.Status == nil || !s.Status.Good || !s.Timestamp.Time.Equal(signedAt) {
		t.Fatalf("B-LT after expiry and revocation: %+v (err %v)", s, s.Err)
	}
	t.Logf("B-LT: valid at %s, certificate expired %s, revoked since %s", s.Timestamp.Time, f.cert.NotAfter, time.Now().Add(-time.Hour))

	rep, err = pades.Verify(context.Background(), bb, f.verifyOptions())
	if err != nil {
		t.Fatal(err)
	}
	s = rep.Signatures[0]
	if s.Valid() || !errors.Is(s.Err, esign.ErrTimeNotProven) || s.Signer == nil {
		t.Fatalf("B-B after expiry: %+v, want esign.ErrTimeNotProven", s)
	}
	t.Logf("B-B: %v", s.Err)
}

// TestRevokedMustShow: revoked an hour ago, not expired. With the CA asked
// now, the B-LT signature made 12 hours ago stays valid (the revocation is
// after its timestamp); the B-B one is revoked and cannot prove it was made
// before; with no network, the B-LT one is valid from its embedded data.
func TestRevokedMustShow(t *testing.T) {
	signedAt := time.Now().Add(-12 * time.Hour).Truncate(time.Second)
	f := newFixture(t, signedAt, 48*time.Hour)
	pdf := inputs(t)["contract-objstm.pdf"]
	lt := f.sign(t, pdf, pades.LevelBLT)
	bb := f.sign(t, pdf, pades.LevelBB)
	revokedAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	f.ocsp.Revoke(f.cert.SerialNumber, revokedAt, 1)
	live := ocspresponder.New(f.pki.Issuing, f.pki.IssuingKey, nil, nil)
	live.Revoke(f.cert.SerialNumber, revokedAt, 1)
	withCA := f.verifyOptions()
	withCA.OCSP = &ocsp.Checker{Client: live}

	for name, opts := range map[string]pades.VerifyOptions{"no network": f.verifyOptions(), "CA asked now": withCA} {
		rep, err := pades.Verify(context.Background(), lt, opts)
		if err != nil || !rep.Signatures[0].Valid() || rep.Signatures[0].Level != pades.LevelBLT {
			t.Fatalf("B-LT, %s: %v %+v", name, err, rep)
		}
	}
	rep, err := pades.Verify(context.Background(), bb, withCA)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Signatures[0]
	if s.Valid() || !errors.Is(s.Err, esign.ErrRevoked) || !errors.Is(s.Err, esign.ErrTimeNotProven) {
		t.Fatalf("B-B, revoked since: %v", s.Err)
	}
	t.Logf("B-B, revoked since: %v", s.Err)
}

// TestChangedAfterSigning: editing a signed byte breaks the signature; an
// incremental update that changes the page's content is reported as a
// change while the signature itself still verifies over its range.
func TestChangedAfterSigning(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	for file, pdf := range inputs(t) {
		t.Run(file, func(t *testing.T) {
			signed := f.sign(t, pdf, pades.LevelBLT)
			edited := bytes.Clone(signed)
			i := bytes.Index(edited, []byte("/MediaBox"))
			if i < 0 {
				i = 20
			}
			edited[i+1] ^= 0x20
			rep, err := pades.Verify(context.Background(), edited, f.verifyOptions())
			if err == nil && (rep.Signatures[0].Valid() || !errors.Is(rep.Signatures[0].Err, esign.ErrDocumentAltered)) {
				t.Fatalf("a signed byte edited: %+v", rep.Signatures[0])
			}

			changed := appendContentChange(t, signed)
			rep, err = pades.Verify(context.Background(), changed, f.verifyOptions())
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Signatures[0]
			if !errors.Is(s.Err, pades.ErrChanged) || !s.ChangedAfterSigning || s.Valid() || len(s.Changes) == 0 || s.Signer == nil {
				t.Fatalf("content changed in a later update: %+v", s)
			}
			t.Logf("changes: %v", s.Changes)
		})
	}
}

func appendContentChange(t *testing.T, pdf []byte) []byte {
	t.Helper()
	out, err := pades.AppendContentChange(pdf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPendingRoundTrip: a pending signature stored as bytes and read back
// (another request, another server) finishes into the same valid PDF; a
// stored document changed in the store changes the digest the card is
// asked to sign, so a signature of the original does not finish it.
func TestPendingRoundTrip(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	p, err := pades.Prepare(inputs(t)["contract-objstm.pdf"], pades.SignOptions{Certificate: f.cert, Level: pades.LevelBT, Time: f.signedAt})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := pades.UnmarshalPending(stored)
	if err != nil || !bytes.Equal(back.Digest, p.Digest) || back.Level != pades.LevelBT || len(p.Update()) == 0 || !bytes.Equal(back.Update(), p.Update()) {
		t.Fatalf("read back: %v", err)
	}
	// The first version of the format did not say where the update
	// begins: read still, without it.
	v1 := bytes.Replace(stored, []byte("puce pades pending 2\n"), []byte("puce pades pending 1\n"), 1)
	if i := bytes.Index(v1, p.Certificate().Raw); i > 0 {
		v1 = append(v1[:i-binary.PutUvarint(make([]byte, 10), uint64(p.Base()+1))], v1[i:]...)
	}
	if old, err := pades.UnmarshalPending(v1); err != nil || old.Update() != nil || !bytes.Equal(old.Digest, p.Digest) {
		t.Fatalf("version 1: %v", err)
	}
	sig, _ := f.key.Sign(rand.Reader, back.Digest, back.SignerOpts())
	signed, err := pades.Finish(context.Background(), back, sig, []*x509.Certificate{f.pki.Issuing}, f.services())
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := pades.Verify(context.Background(), signed, f.verifyOptions()); err != nil || !rep.Signatures[0].Valid() {
		t.Fatalf("finished from the store: %v %+v", err, rep)
	}
	tampered := bytes.Replace(stored, []byte("/MediaBox"), []byte("/MediaBoy"), 1)
	other, err := pades.UnmarshalPending(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Digest, p.Digest) {
		t.Fatal("a changed stored document keeps its digest")
	}
	if _, err := pades.Finish(context.Background(), other, sig, []*x509.Certificate{f.pki.Issuing}, f.services()); !errors.Is(err, esign.ErrBadSignature) {
		t.Fatalf("a signature of the original on a changed stored document: %v", err)
	}
	for _, bad := range [][]byte{nil, stored[:30], append([]byte("x"), stored...)} {
		if _, err := pades.UnmarshalPending(bad); !errors.Is(err, pades.ErrMalformed) {
			t.Fatalf("garbage: %v", err)
		}
	}
}

// TestRenewal: a B-LTA document gets the validation data of its document
// timestamp and a second document timestamp over it, as an archive is
// renewed; every signature stays valid, none reads as changed, and the
// signature stays at B-LTA.
func TestRenewal(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	lta := f.sign(t, inputs(t)["contract-linearized-objstm.pdf"], pades.LevelBLTA)
	withData, err := pades.AddValidationData(context.Background(), lta, f.services())
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := pades.AddDocumentTimestamp(context.Background(), withData, f.tsa)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(renewed, lta) {
		t.Fatal("renewal rewrote earlier bytes")
	}
	rep, err := pades.Verify(context.Background(), renewed, f.verifyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Signatures) != 3 || rep.Signatures[0].Level != pades.LevelBLTA || !rep.Signatures[2].WholeDocument {
		t.Fatalf("%d signatures, first at %v", len(rep.Signatures), rep.Signatures[0].Level)
	}
	for _, s := range rep.Signatures {
		if !s.Valid() || s.ChangedAfterSigning {
			t.Fatalf("%s: %v, changes %v", s.Field, s.Err, s.Changes)
		}
	}
}

// TestBadInput: what callers branch on, for what is not a signed PDF.
func TestBadInput(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	ctx := context.Background()
	plain := inputs(t)["contract.pdf"]
	if _, err := pades.Verify(ctx, plain, f.verifyOptions()); !errors.Is(err, pades.ErrNoSignature) {
		t.Fatalf("unsigned: %v", err)
	}
	if _, err := pades.AddValidationData(ctx, plain, f.services()); !errors.Is(err, pades.ErrNoSignature) {
		t.Fatalf("validation data for nothing: %v", err)
	}
	for name, b := range map[string][]byte{"empty": nil, "not a PDF": []byte("hello"), "no startxref": []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"),
		"cut": plain[:len(plain)/2]} {
		if _, err := pades.Verify(ctx, b, f.verifyOptions()); !errors.Is(err, pades.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := pades.Prepare(b, pades.SignOptions{Certificate: f.cert}); !errors.Is(err, pades.ErrMalformed) {
			t.Errorf("%s, prepare: %v", name, err)
		}
	}
	huge := make([]byte, pades.MaxDocumentSize+1)
	copy(huge, plain)
	if _, err := pades.Verify(ctx, huge, f.verifyOptions()); !errors.Is(err, pades.ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	encrypted := bytes.Replace(plain, []byte("/Root 1 0 R"), []byte("/Root 1 0 R /Encrypt 9 0 R"), 1)
	if _, err := pades.Prepare(encrypted, pades.SignOptions{Certificate: f.cert}); !errors.Is(err, pades.ErrUnsupported) {
		t.Fatalf("encrypted: %v", err)
	}
	// A signature too large for the room kept.
	p, err := pades.Prepare(plain, pades.SignOptions{Certificate: f.cert, Level: pades.LevelBB, ContentsSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := f.key.Sign(rand.Reader, p.Digest, p.SignerOpts())
	if _, err := pades.Finish(ctx, p, sig, []*x509.Certificate{f.pki.Issuing}, f.services()); !errors.Is(err, pades.ErrTooLarge) {
		t.Fatalf("no room: %v", err)
	}
}

// TestHybridReference: a file whose last update is hybrid (a classic table
// whose trailer names a cross-reference stream, the object it lists being
// in an object stream) is signed, extended and verified.
func TestHybridReference(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	hybrid, err := pades.MakeHybrid(inputs(t)["contract.pdf"])
	if err != nil {
		t.Fatal(err)
	}
	if q, err := exec.LookPath("qpdf"); err == nil {
		path := filepath.Join(t.TempDir(), "hybrid.pdf")
		os.WriteFile(path, hybrid, 0o600)
		if out, err := exec.Command(q, "--check", path).CombinedOutput(); err != nil {
			t.Fatalf("qpdf --check on the hybrid input: %v\n%s", err, out)
		}
	}
	signed := f.sign(t, hybrid, pades.LevelBLTA)
	for _, b := range [][]byte{hybrid, signed} {
		if ok, err := pades.PieceInfoOfFirstPage(b); !ok || err != nil {
			t.Fatalf("the object listed by /XRefStm only: %v, %v", ok, err)
		}
	}
	rep, err := pades.Verify(context.Background(), signed, f.verifyOptions())
	if err != nil || len(rep.Signatures) != 2 || !rep.Signatures[0].Valid() || rep.Signatures[0].Level != pades.LevelBLTA {
		t.Fatalf("%v %+v", err, rep)
	}
	if _, err := pades.Verify(context.Background(), appendContentChange(t, signed), f.verifyOptions()); err != nil {
		t.Fatal(err)
	}
}

// TestDanglingReferenceFilledLater: the signed revision's page refers to an
// object that does not exist (null when signed); a later update defines it
// with visible content, changing the page without touching a signed
// object. Reported as a change.
func TestDanglingReferenceFilledLater(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	dangling, err := pades.AppendPageContents(inputs(t)["contract.pdf"], 500, "", true)
	if err != nil {
		t.Fatal(err)
	}
	signed := f.sign(t, dangling, pades.LevelBT)
	filled, err := pades.AppendPageContents(signed, 500, "BT /F1 24 Tf 72 700 Td (Amount: 92,000 EUR) Tj ET", false)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := pades.Verify(context.Background(), filled, f.verifyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
		t.Fatalf("a dangling reference filled after signing: %+v", s)
	} else {
		t.Logf("changes: %v", s.Changes)
	}
}

// TestChangeNamedInfo: a later update replaces a signed page's content
// stream in place and names that object the trailer's /Info. The document
// information dictionary may change after signing, but only the one the
// signed revision named: the final trailer's /Info is the attacker's to
// write. Reported as a change.
func TestChangeNamedInfo(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	for file, pdf := range inputs(t) {
		t.Run(file, func(t *testing.T) {
			signed := f.sign(t, pdf, pades.LevelBT)
			changed, err := pades.AppendContentAsInfo(signed)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := pades.Verify(context.Background(), changed, f.verifyOptions())
			if err != nil {
				t.Fatal(err)
			}
			if s := rep.Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
				t.Fatalf("page content replaced under the name /Info: %+v", s)
			} else {
				t.Logf("changes: %v", s.Changes)
			}
		})
	}
}
