package pades_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign/pades"
)

// The published attacks on signed PDFs, each built here and checked:
// puce's verdict, and where they help, qpdf --check (the attack file is a
// well-formed PDF, not noise), pdftoppm (what a reader shows changed) and
// pdfsig (what poppler says of it).

// attackBox is where the attack builders draw (points, from the page's
// lower left): over the contract's amount line.
var attackBox = [4]float64{60, 690, 540, 780}

// qpdfCheck fails the test unless qpdf --check accepts pdf.
func qpdfCheck(t *testing.T, pdf []byte, what string) {
	t.Helper()
	qpdf := tool(t, "qpdf", "qpdf")
	path := filepath.Join(t.TempDir(), "check.pdf")
	os.WriteFile(path, pdf, 0o600)
	if out, err := exec.Command(qpdf, "--check", path).CombinedOutput(); err != nil {
		t.Fatalf("qpdf --check on %s: %v\n%s", what, err, out)
	}
}

// rendered counts the dark pixels pdftoppm draws in attackBox on page 1.
func rendered(t *testing.T, pdf []byte) int {
	t.Helper()
	pdftoppm := tool(t, "pdftoppm", "poppler-utils")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "page")
	os.WriteFile(in, pdf, 0o600)
	if b, err := exec.Command(pdftoppm, "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile", in, out).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, b)
	}
	return darkPixels(t, out+".png", attackBox)
}

// pdfsigAll runs poppler's pdfsig on pdf and returns its report of every
// signature, split per signature.
func pdfsigAll(t *testing.T, f *fixture, pdf []byte) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "peer.pdf")
	os.WriteFile(path, pdf, 0o600)
	out, _ := exec.Command(tool(t, "pdfsig", "poppler-utils"), "-nssdir", nssDir(t, f), path).CombinedOutput()
	parts := strings.Split(string(out), "Signature #")
	return parts[1:]
}

func verify(t *testing.T, pdf []byte, opts pades.VerifyOptions) *pades.Report {
	t.Helper()
	rep, err := pades.Verify(context.Background(), pdf, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// must returns a builder's PDF, failing the test on its error.
func must(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// TestShadowInfoNamesPage: a shadow attack through the one dictionary that
// may change after signing, the document information dictionary. The
// document handed to the signer names its first page as /Info; after the
// signature, an update replaces that page's content, which the verifier let
// pass as an information dictionary change.
func TestShadowInfoNamesPage(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	for _, file := range []string{"contract.pdf", "contract-objstm.pdf"} {
		prepared := must(t)(pades.NameFirstPageInfo(inputs(t)[file]))
		signed := f.sign(t, prepared, pades.LevelBT)
		if s := verify(t, signed, f.verifyOptions()).Signatures[0]; !s.Valid() {
			t.Fatalf("%s, signed: %v", file, s.Err)
		}
		attack := appendContentChange(t, signed)
		qpdfCheck(t, attack, "the shadow attack through /Info")
		if s := verify(t, attack, f.verifyOptions()).Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
			t.Fatalf("%s: the page named /Info replaced after signing: %+v", file, s)
		} else {
			t.Logf("%s: %v", file, s.Changes)
		}
	}
}

// TestIncrementalSaveOmitsObject: an incremental saving attack that writes
// no object at all: a last cross-reference section, with no /Prev, lists
// every object but the page's content stream. qpdf takes the missing
// object for null (ISO 32000-1 §7.3.10), and its rewrite of the file has
// an empty page; poppler rebuilds the table by scanning and still shows
// the text: what the page shows depends on the reader. The verifier
// compared only the objects the last section lists.
func TestIncrementalSaveOmitsObject(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)
	content, err := pades.FirstPageContent(signed)
	if err != nil {
		t.Fatal(err)
	}
	attack := must(t)(pades.AppendXrefOmitting(signed, content))
	qpdfCheck(t, attack, "a cross-reference section omitting an object")
	qpdf := tool(t, "qpdf", "qpdf")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "attack.pdf"), filepath.Join(dir, "rewritten.pdf")
	os.WriteFile(in, attack, 0o600)
	if b, err := exec.Command(qpdf, in, out).CombinedOutput(); err != nil {
		t.Fatalf("qpdf: %v\n%s", err, b)
	}
	rewritten, _ := os.ReadFile(out)
	if before, after := rendered(t, signed), rendered(t, rewritten); after >= before || before < 50 {
		t.Fatalf("qpdf's rewrite: %d dark pixels in the box, %d before", after, before)
	}
	if s := verify(t, attack, f.verifyOptions()).Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
		t.Fatalf("the content stream left out of the last cross-reference section: %+v", s)
	} else {
		t.Logf("changes: %v", s.Changes)
	}
}

// TestIncrementalSaveNewRoot: an update whose trailer names a new catalog.
func TestIncrementalSaveNewRoot(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	attack := must(t)(pades.AppendNewRoot(f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)))
	qpdfCheck(t, attack, "a new /Root")
	if s := verify(t, attack, f.verifyOptions()).Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
		t.Fatalf("a new catalog: %+v", s)
	}
}

// TestReplayedSignature: an update adds a signature field whose value is a
// new copy of the first signature's dictionary, same /ByteRange and
// /Contents, with an appearance drawn over the page. Its signature
// verifies over the bytes it names, but they do not hold its dictionary:
// ISO 32000-1 §12.8.1 has the byte range cover the whole file but the
// signature value, its own dictionary included. It signs nothing of the
// update that adds it, so it is not the signing a later update may do, and
// the page the first signer signed is drawn over.
func TestReplayedSignature(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	for _, file := range []string{"contract.pdf", "contract-objstm.pdf"} {
		signed := f.sign(t, inputs(t)[file], pades.LevelBT)
		attack := must(t)(pades.AppendReplayedSignature(signed, "Amount: 92,000 EUR"))
		qpdfCheck(t, attack, "a replayed signature")
		if before, after := rendered(t, signed), rendered(t, attack); after <= before+50 {
			t.Fatalf("pdftoppm draws no new text: %d dark pixels, %d before", after, before)
		}
		rep := verify(t, attack, f.verifyOptions())
		if len(rep.Signatures) != 2 {
			t.Fatalf("%d signatures", len(rep.Signatures))
		}
		first, replayed := rep.Signatures[0], rep.Signatures[1]
		if replayed.Valid() || !errors.Is(replayed.Err, pades.ErrMalformed) {
			t.Fatalf("%s: the replayed signature: %+v", file, replayed)
		}
		if first.Valid() || !errors.Is(first.Err, pades.ErrChanged) {
			t.Fatalf("%s: the first signature, drawn over by a replay: %+v", file, first)
		}
		t.Logf("%s: replay: %v; first: %v", file, replayed.Err, first.Err)
		// pdfsig checks each signature over the bytes its /ByteRange
		// names, and so finds the replay valid, but not over the whole
		// file: puce's ErrMalformed is ISO 32000-1 §12.8.1, the signature
		// dictionary in the bytes signed, which pdfsig does not check.
		peer := pdfsigAll(t, f, attack)
		if len(peer) != 2 || !strings.Contains(peer[1], "Not total document signed") {
			t.Fatalf("pdfsig on the replay:\n%s", strings.Join(peer, "#"))
		}
		t.Logf("pdfsig on the replay, signature #2 valid: %v", strings.Contains(peer[1], "Signature is Valid."))
	}
}

// TestSignatureWrapping: an update redefines the signature dictionary with
// a /ByteRange whose second range points at a copy of the signed bytes
// moved after new data: the digest matches, but the gap between the ranges
// holds far more than the signature value.
func TestSignatureWrapping(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	attack := must(t)(pades.AppendWrappedSignature(f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)))
	rep, err := pades.Verify(context.Background(), attack, f.verifyOptions())
	if err != nil {
		if !errors.Is(err, pades.ErrMalformed) {
			t.Fatal(err)
		}
		return
	}
	for _, s := range rep.Signatures {
		if s.Valid() || !errors.Is(s.Err, pades.ErrMalformed) {
			t.Fatalf("a wrapped signature: %+v", s)
		}
	}
}

// TestForgedSignatureDictionaries: universal signature forgery, a
// signature dictionary with its /ByteRange or /Contents missing, null,
// empty or not surrounding the value, added after a valid signature: no
// forged signature is valid, its error is ErrMalformed, and the real one
// is still reported, valid (the forged fields draw nothing). The forged
// dictionary used to fail the whole verification.
func TestForgedSignatureDictionaries(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)
	head := "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
	for name, body := range map[string]string{
		"no /ByteRange":        head + "/Contents <3000> >>",
		"null /ByteRange":      head + "/ByteRange null /Contents <3000> >>",
		"empty /ByteRange":     head + "/ByteRange [] /Contents <3000> >>",
		"zero /ByteRange":      head + "/ByteRange [0 0 0 0] /Contents <3000> >>",
		"/ByteRange of 6":      head + "/ByteRange [0 10 20 10 40 10] /Contents <3000> >>",
		"negative /ByteRange":  head + "/ByteRange [0 -1 20 10] /Contents <3000> >>",
		"no /Contents":         head + "/ByteRange [0 10 20 10] >>",
		"null /Contents":       head + "/ByteRange [0 10 20 10] /Contents null >>",
		"empty /Contents":      head + "/ByteRange [0 10 20 10] /Contents <> >>",
		"whole file, no value": head + "/ByteRange [0 100 100 100] /Contents <> >>",
	} {
		attack := must(t)(pades.AppendSignatureDict(signed, body))
		rep := verify(t, attack, f.verifyOptions())
		if len(rep.Signatures) != 2 {
			t.Fatalf("%s: %d signatures", name, len(rep.Signatures))
		}
		for _, s := range rep.Signatures {
			if (s.Field == "Signature1") != s.Valid() {
				t.Fatalf("%s: %s: %+v", name, s.Field, s)
			}
			if s.Field != "Signature1" {
				if !errors.Is(s.Err, pades.ErrMalformed) {
					t.Fatalf("%s: %v", name, s.Err)
				}
				t.Logf("%s: %v", name, s.Err)
			}
		}
	}
}

// signVisible signs pdf at B-T with f's key and an appearance in
// attackBox showing lines.
func signVisible(t *testing.T, f *fixture, pdf []byte, lines ...string) []byte {
	t.Helper()
	opts := pades.SignOptions{Certificate: f.cert, Level: pades.LevelBT, Time: f.signedAt}
	if len(lines) > 0 {
		opts.Appearance = &pades.Appearance{Rect: attackBox, Lines: lines}
	}
	p, err := pades.Prepare(pdf, opts)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := f.key.Sign(rand.Reader, p.Digest, p.SignerOpts())
	out, err := pades.Finish(context.Background(), p, sig, []*x509.Certificate{f.pki.Issuing}, f.services())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSneakySignature: a second signer's signature field whose appearance
// paints over the page the first signer signed. Signing is a permitted
// change (ISO 32000-1 §12.8.2.2.2, Table 254), so the first signature stays
// valid, but the report says what now draws over its page, where and by
// whom (Overlays). A second signature that does not verify, or whose
// signer the verifier does not trust, is not a permitted signing: the
// first signature is then changed. An invisible second signature draws
// nothing and is not reported.
func TestSneakySignature(t *testing.T) {
	alice := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	mallory := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := alice.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)
	sneaky := signVisible(t, mallory, signed, "Amount: 92,000 EUR", "Loan agreement 2026-1142")
	qpdfCheck(t, sneaky, "a sneaky signature")
	if before, after := rendered(t, signed), rendered(t, sneaky); after <= before+50 {
		t.Fatalf("pdftoppm draws no new text: %d dark pixels, %d before", after, before)
	}

	both := alice.verifyOptions()
	both.Roots = alice.pki.Roots.Clone()
	both.Roots.AddCert(mallory.pki.Root)
	both.TSARoots = both.Roots
	rep := verify(t, sneaky, both)
	first, second := rep.Signatures[0], rep.Signatures[1]
	if !first.Valid() || !second.Valid() || first.ChangedAfterSigning {
		t.Fatalf("trusted second signer: %+v\n%+v", first, second)
	}
	if len(first.Overlays) != 1 {
		t.Fatalf("overlays %+v", first.Overlays)
	}
	o := first.Overlays[0]
	if o.Page != 1 || o.Field != second.Field || o.Rect != attackBox || o.Annotation != "Widget" {
		t.Fatalf("overlay %+v, second field %q", o, second.Field)
	}
	if len(second.Overlays) != 0 || first.SignedLength >= second.SignedLength || second.SignedLength != int64(len(sneaky)) {
		t.Fatalf("second %+v, lengths %d %d", second.Overlays, first.SignedLength, second.SignedLength)
	}
	t.Logf("first signature, valid, overlaid: %+v", o)
	// pdfsig agrees that both signatures verify, the first not over the
	// whole file; it does not say what the second draws over it.
	peer := pdfsigAll(t, alice, sneaky)
	if len(peer) != 2 || strings.Count(strings.Join(peer, ""), "Signature is Valid.") != 2 || !strings.Contains(peer[0], "Not total document signed") {
		t.Fatalf("pdfsig on the sneaky signature:\n%s", strings.Join(peer, "#"))
	}

	// The verifier trusts Alice's CA only.
	rep = verify(t, sneaky, alice.verifyOptions())
	first, second = rep.Signatures[0], rep.Signatures[1]
	if second.Valid() || first.Valid() || !errors.Is(first.Err, pades.ErrChanged) {
		t.Fatalf("untrusted second signer: %+v\n%+v", first, second)
	}
	t.Logf("untrusted second signer: %v", first.Err)

	// An invisible second signature.
	rep = verify(t, mallory.sign(t, signed, pades.LevelBT), both)
	if s := rep.Signatures[0]; !s.Valid() || len(s.Overlays) != 0 {
		t.Fatalf("invisible second signature: %+v", s)
	}
}

// TestEvilAnnotation: an annotation drawn over the page after a
// certification. DocMDP permissions 3 permit creating annotations (ISO
// 32000-1 §12.8.2.2.2, Table 254), so the certification stays valid, the
// annotation reported as an overlay of its page; permissions 1 and 2, and
// an approval signature with no certification, do not.
func TestEvilAnnotation(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	for _, p := range []int{0, 1, 2, 3} {
		var signed []byte
		if p == 0 {
			signed = f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)
		} else {
			signed = f.certify(t, inputs(t)["contract.pdf"], p)
		}
		attack := must(t)(pades.AppendAnnotation(signed, "FreeText", "Amount: 92,000 EUR"))
		qpdfCheck(t, attack, "an annotation")
		if before, after := rendered(t, signed), rendered(t, attack); after <= before+50 {
			t.Fatalf("P=%d: pdftoppm draws no new text: %d dark pixels, %d before", p, after, before)
		}
		s := verify(t, attack, f.verifyOptions()).Signatures[0]
		switch {
		case p == 3 && (!s.Valid() || len(s.Overlays) != 1 || s.Overlays[0].Annotation != "FreeText" || s.Overlays[0].Page != 1):
			t.Fatalf("P=3, an annotation added: %+v", s)
		case p != 3 && (s.Valid() || !errors.Is(s.Err, pades.ErrChanged)):
			t.Fatalf("P=%d, an annotation added: %+v", p, s)
		}
		t.Logf("P=%d: %v %+v", p, s.Err, s.Overlays)
	}
}

// TestShadowAndIncrementalChanges: changes to what a signed page shows,
// each made by an update after the signature — some to content the
// signer signed unseen (shadow attacks: a shadow object the last
// cross-reference section points at, a hidden optional content group
// turned on), some plain incremental saves (a new first page, the page's
// font swapped). Every one changes what pdftoppm draws, and every one is a
// change: none is a signature or the validation data. (A form field
// filled over the text, permitted at P 2, is an overlay: TestFormFill.)
func TestShadowAndIncrementalChanges(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	base := inputs(t)["contract.pdf"]
	for name, attack := range map[string]func(t *testing.T) (signed, changed []byte){
		"hide-and-replace, cross-reference only": func(t *testing.T) ([]byte, []byte) {
			prepared, at, err := pades.WithShadowContent(base)
			if err != nil {
				t.Fatal(err)
			}
			signed := f.sign(t, prepared, pades.LevelBT)
			content, err := pades.FirstPageContent(signed)
			if err != nil {
				t.Fatal(err)
			}
			return signed, must(t)(pades.AppendXrefRepoint(signed, content, at))
		},
		"hidden layer shown": func(t *testing.T) ([]byte, []byte) {
			signed := f.sign(t, must(t)(pades.WithHiddenLayer(base)), pades.LevelBT)
			return signed, must(t)(pades.AppendLayerShown(signed))
		},
		"a content stream typed as an object stream, replaced": func(t *testing.T) ([]byte, []byte) {
			prepared, num, err := pades.WithContentAsObjectStream(base)
			if err != nil {
				t.Fatal(err)
			}
			signed := f.sign(t, prepared, pades.LevelBT)
			return signed, must(t)(pades.AppendContentStream(signed, num))
		},
		"new first page": func(t *testing.T) ([]byte, []byte) {
			signed := f.sign(t, base, pades.LevelBT)
			return signed, must(t)(pades.AppendNewPage(signed))
		},
		"font swapped": func(t *testing.T) ([]byte, []byte) {
			signed := f.sign(t, base, pades.LevelBT)
			return signed, must(t)(pades.AppendFontSwap(signed))
		},
	} {
		t.Run(name, func(t *testing.T) {
			signed, changed := attack(t)
			if s := verify(t, signed, f.verifyOptions()).Signatures[0]; !s.Valid() {
				t.Fatalf("signed: %v", s.Err)
			}
			qpdfCheck(t, changed, name)
			if before, after := rendered(t, signed), rendered(t, changed); before == after {
				t.Fatalf("pdftoppm draws the same (%d dark pixels in the box)", after)
			}
			s := verify(t, changed, f.verifyOptions()).Signatures[0]
			if s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
				t.Fatalf("%+v", s)
			}
			t.Logf("%v", s.Changes)
		})
	}
}

// TestAnnotationRemoved: the signer certifies a page with an annotation
// drawn over its text; an update then deletes the annotation, and the
// page shows what it covered (a shadow attack's "hide"). P 3 permits
// deleting annotations: the certification stays valid and the removal is
// reported, where the annotation drew. P 2 does not permit it.
func TestAnnotationRemoved(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	covered := must(t)(pades.AppendAnnotation(inputs(t)["contract.pdf"], "FreeText", "Amount: 12,000 EUR"))
	for _, p := range []int{2, 3} {
		signed := f.certify(t, covered, p)
		attack := must(t)(pades.AppendAnnotationsRemoved(signed))
		qpdfCheck(t, attack, "an annotation removed")
		if before, after := rendered(t, signed), rendered(t, attack); before == after {
			t.Fatalf("pdftoppm draws the same: %d dark pixels", after)
		}
		s := verify(t, attack, f.verifyOptions()).Signatures[0]
		switch {
		case p == 3 && (!s.Valid() || len(s.Overlays) != 1 || !s.Overlays[0].Removed || s.Overlays[0].Rect != attackBox):
			t.Fatalf("P=3, the annotation removed: %+v", s)
		case p == 2 && (s.Valid() || !errors.Is(s.Err, pades.ErrChanged)):
			t.Fatalf("P=2, the annotation removed: %+v", s)
		}
		t.Logf("P=%d: %v %+v", p, s.Err, s.Overlays)
	}
}

// TestIncrementalSaveWithoutTable: an incremental saving attack with no
// cross-reference section: objects appended after the last %%EOF, then
// more than a kilobyte of comments. puce found the signed revision's
// startxref within the last 2 KiB and saw no update; qpdf, which looks in
// the last kilobyte, rebuilds the table by scanning and takes the appended
// object for the page's content — its rewrite shows the new amount. ISO
// 32000-1 §7.5.5 ends a file with startxref, its offset and %%EOF, and
// §7.5.6 appends each update as a body, a cross-reference section and a
// trailer: bytes after a signature that are not that are a change.
func TestIncrementalSaveWithoutTable(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)
	for _, size := range []int{0, 1500} {
		attack := must(t)(pades.AppendUnlistedContent(signed, size))
		if size > 0 {
			qpdf := tool(t, "qpdf", "qpdf")
			dir := t.TempDir()
			in, out := filepath.Join(dir, "attack.pdf"), filepath.Join(dir, "rewritten.pdf")
			os.WriteFile(in, attack, 0o600)
			exec.Command(qpdf, in, out).Run() // exits 3: warnings of the rebuilt table
			rewritten, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if before, after := rendered(t, signed), rendered(t, rewritten); before == after {
				t.Fatalf("qpdf's rewrite draws the same: %d dark pixels", after)
			}
		}
		if s := verify(t, attack, f.verifyOptions()).Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
			t.Fatalf("%d bytes: objects appended with no cross-reference section: %+v", size, s)
		} else {
			t.Logf("%d bytes: %v", size, s.Changes)
		}
	}
}
