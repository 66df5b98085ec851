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

// fillText is what the fills write into the contract's amount field.
const fillText = "Amount: 92,000 EUR"

// formFixture gives the contract with an empty text field over its amount
// line, and the field's object number.
func formFixture(t *testing.T) ([]byte, int) {
	t.Helper()
	prepared, field, err := pades.WithTextField(inputs(t)["contract.pdf"])
	if err != nil {
		t.Fatal(err)
	}
	return prepared, field
}

// TestFormFill: a text field filled after a signature — its /V and its
// widget's appearance, as a reader saves a filled form. DocMDP P 2 and 3
// permit filling in forms (ISO 32000-1 §12.8.2.2.2, Table 254), and an
// approval signature with no certification restricts no field it does not
// lock (§12.8.2.4): the signature stays valid, and the filled widget is
// reported where it draws over the signed page (a shadow attack fills a
// field over the signed terms; pdftoppm shows the new text). P 1 permits
// no fill. Beyond a fill — the widget's rectangle or the field's type or
// flags changed, a read-only field filled, a new field — is a change.
func TestFormFill(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	prepared, field := formFixture(t)
	for _, p := range []int{0, 1, 2, 3} {
		signed := f.sign(t, prepared, pades.LevelBT)
		if p != 0 {
			signed = f.certify(t, prepared, p)
		}
		filled := must(t)(pades.AppendFormFill(signed, field, fillText))
		if p == 2 {
			qpdfCheck(t, filled, "a filled form")
			if before, after := rendered(t, signed), rendered(t, filled); after <= before+50 {
				t.Fatalf("pdftoppm draws no new text: %d dark pixels, %d before", after, before)
			}
		}
		s := verify(t, filled, f.verifyOptions()).Signatures[0]
		if p == 1 {
			if s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
				t.Fatalf("P=1, a field filled: %+v", s)
			}
			continue
		}
		if !s.Valid() || len(s.Overlays) != 1 {
			t.Fatalf("P=%d, a field filled: %v %+v", p, s.Err, s.Overlays)
		}
		if o := s.Overlays[0]; o.Page != 1 || o.Rect != attackBox || o.Annotation != "Widget" || o.FormField != "Amount" || o.Field != "" || o.Removed {
			t.Fatalf("P=%d, overlay %+v", p, o)
		}
		t.Logf("P=%d: %+v", p, s.Overlays)
	}

	signed := f.certify(t, prepared, 2)
	for what, changed := range map[string][]byte{
		"rectangle moved":        must(t)(pades.AppendFieldSet(signed, field, "Rect", "[60 600 540 690]")),
		"type changed":           must(t)(pades.AppendFieldSet(signed, field, "FT", "/Ch")),
		"made read-only":         must(t)(pades.AppendFieldSet(signed, field, "Ff", "1")),
		"an action added":        must(t)(pades.AppendFieldSet(signed, field, "AA", "<< /K << /S /JavaScript /JS (app.alert(1)) >> >>")),
		"read-only field filled": must(t)(pades.AppendFormFill(f.certify(t, must(t)(pades.AppendFieldSet(prepared, field, "Ff", "1")), 2), field, fillText)),
		"a new field":            nil,
	} {
		if what == "a new field" {
			changed, _, _ = pades.WithTextField(signed)
		}
		if s := verify(t, changed, f.verifyOptions()).Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
			t.Fatalf("%s: %+v", what, s)
		} else {
			t.Logf("%s: %v", what, s.Changes)
		}
	}
}

// signLocking signs pdf at B-B with a FieldMDP transform locking fields.
func signLocking(t *testing.T, f *fixture, pdf []byte, action string, fields ...string) []byte {
	t.Helper()
	return signLockingP(t, f, pdf, 0, action, fields...)
}

// signLockingP is signLocking with the lock's permissions p (ISO 32000-2
// Table 236; 0 for none).
func signLockingP(t *testing.T, f *fixture, pdf []byte, perms int, action string, fields ...string) []byte {
	t.Helper()
	p, err := pades.PrepareLocking(pdf, pades.SignOptions{Certificate: f.cert, Level: pades.LevelBB, Time: f.signedAt}, perms, action, fields...)
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

// TestFieldMDP: a signature whose FieldMDP transform (ISO 32000-1
// §12.8.2.4) locks the filled field is invalidated by the fill; one that
// locks other fields, or excludes this one, is not.
func TestFieldMDP(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	prepared, field := formFixture(t)
	for _, c := range []struct {
		action string
		fields []string
		locked bool
	}{
		{"All", nil, true},
		{"Include", []string{"Amount"}, true},
		{"Include", []string{"Payee"}, false},
		{"Exclude", []string{"Amount"}, false},
		{"Exclude", []string{"Payee"}, true},
	} {
		signed := signLocking(t, f, prepared, c.action, c.fields...)
		if s := verify(t, signed, f.verifyOptions()).Signatures[0]; !s.Valid() {
			t.Fatalf("%s %v, signed: %v", c.action, c.fields, s.Err)
		}
		filled := must(t)(pades.AppendFormFill(signed, field, fillText))
		s := verify(t, filled, f.verifyOptions()).Signatures[0]
		if c.locked && (s.Valid() || !errors.Is(s.Err, pades.ErrChanged)) || !c.locked && (!s.Valid() || len(s.Overlays) != 1) {
			t.Fatalf("%s %v, the field filled: %+v", c.action, c.fields, s)
		}
		t.Logf("%s %v: %v %+v", c.action, c.fields, s.Err, s.Overlays)
	}

	// A lock with permissions /P (ISO 32000-2 Table 236) narrows what the
	// document permits once the field is signed: P 1 forbids the fill of
	// a field it does not name, and a later signature; P 2 forbids
	// neither.
	for _, p := range []int{1, 2} {
		signed := signLockingP(t, f, prepared, p, "Include", "Payee")
		filled := must(t)(pades.AppendFormFill(signed, field, fillText))
		cosigned := f.sign(t, signed, pades.LevelBT)
		for what, doc := range map[string][]byte{"filled": filled, "signed again": cosigned} {
			s := verify(t, doc, f.verifyOptions()).Signatures[0]
			if p == 1 && (s.Valid() || !errors.Is(s.Err, pades.ErrChanged)) || p == 2 && !s.Valid() {
				t.Fatalf("lock P %d, %s: %+v", p, what, s)
			}
			t.Logf("lock P %d, %s: %v", p, what, s.Err)
		}
	}
}

// TestCertificationNotFirst: a certification signature after an approval
// signature. ISO 32000-1 §12.8.2.2.1 allows one signature with a DocMDP
// transform, the first signed field of the document: a later one is
// ErrMalformed, and the earlier signature sees the catalog's /Perms
// change.
func TestCertificationNotFirst(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := f.sign(t, inputs(t)["contract.pdf"], pades.LevelBT)
	late := f.certify(t, signed, 2)
	rep := verify(t, late, f.verifyOptions())
	if len(rep.Signatures) != 2 {
		t.Fatalf("%d signatures", len(rep.Signatures))
	}
	first, second := rep.Signatures[0], rep.Signatures[1]
	if first.Valid() || !errors.Is(first.Err, pades.ErrChanged) || second.Valid() || !errors.Is(second.Err, pades.ErrMalformed) {
		t.Fatalf("a certification after an approval: %+v\n%+v", first, second)
	}
	t.Logf("%v; %v", first.Err, second.Err)
	// A certification first, then an approval: both valid.
	certified := f.certify(t, inputs(t)["contract.pdf"], 2)
	rep = verify(t, f.sign(t, certified, pades.LevelBT), f.verifyOptions())
	for _, s := range rep.Signatures {
		if !s.Valid() {
			t.Fatalf("certified then signed: %+v", s)
		}
	}
	// A forged signature dictionary added after, which sorts first (its
	// byte range ends early), does not make the certification late.
	forged := must(t)(pades.AppendSignatureDict(certified, "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 10 20 10] /Contents <3000> >>"))
	for _, s := range verify(t, forged, f.verifyOptions()).Signatures {
		if s.Field == "Signature1" && !s.Valid() || s.Field != "Signature1" && !errors.Is(s.Err, pades.ErrMalformed) {
			t.Fatalf("a forged dictionary after the certification: %+v", s)
		}
	}
}

// TestAnnotationActions: P 3 permits creating annotations (ISO 32000-1
// Table 254), not running scripts or programs: an annotation added with a
// JavaScript or Launch action (§12.6.4.16, §12.6.4.5), in /A or /AA, is a
// change; one with a link to a URI (§12.6.4.7) is an overlay.
func TestAnnotationActions(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	signed := f.certify(t, inputs(t)["contract.pdf"], 3)
	for _, c := range []struct {
		s, key, value, trigger string
		ok                     bool
	}{
		{"URI", "URI", "(https://example.org/)", "", true},
		{"JavaScript", "JS", "(app.alert(1))", "", false},
		{"JavaScript", "JS", "(app.alert(1))", "PO", false},
		{"Launch", "F", "(calc.exe)", "", false},
	} {
		attack := must(t)(pades.AppendActionAnnotation(signed, c.s, c.key, c.value, c.trigger))
		qpdfCheck(t, attack, "an annotation with an action")
		s := verify(t, attack, f.verifyOptions()).Signatures[0]
		if c.ok && (!s.Valid() || len(s.Overlays) != 1) || !c.ok && (s.Valid() || !errors.Is(s.Err, pades.ErrChanged)) {
			t.Fatalf("%s %q: %+v", c.s, c.trigger, s)
		}
		t.Logf("%s %q: %v", c.s, c.trigger, s.Err)
	}
}

// TestPdfsigSignsExistingField: a document prepared with an empty
// signature field for a second signer; puce signs first (a field of its
// own), then poppler's pdfsig signs the prepared field (-sign), setting its
// /V and redrawing its widget. Signing is the permitted change after an
// approval signature (ISO 32000-1 Table 254): puce's signature stays
// valid, the second is found and verifies, and the widget pdfsig drew is
// reported over the first signature's page, named by the second's field.
// pdfsig agrees that both are valid.
func TestPdfsigSignsExistingField(t *testing.T) {
	pdfsigBin, db, ca := nssSigner(t)
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	prepared := must(t)(pades.AppendUnsignedSignatureField(inputs(t)["contract.pdf"], "Second signer"))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "first.pdf"), filepath.Join(dir, "both.pdf")
	os.WriteFile(in, f.sign(t, prepared, pades.LevelBT), 0o600)
	if b, err := exec.Command(pdfsigBin, "-nssdir", db, "-sign", "Signature1", "-nick", "peer signer", in, out).CombinedOutput(); err != nil {
		t.Fatalf("pdfsig -sign: %v\n%s", err, b)
	}
	both, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	qpdfCheck(t, both, "pdfsig's signature in a prepared field")
	opts := f.verifyOptions()
	opts.Roots = f.pki.Roots.Clone()
	opts.Roots.AddCert(ca)
	rep := verify(t, both, opts)
	if len(rep.Signatures) != 2 {
		t.Fatalf("%d signatures", len(rep.Signatures))
	}
	first, second := rep.Signatures[0], rep.Signatures[1]
	if !first.Valid() || !second.Valid() || second.Field != "Signature1" || second.Signer.Subject.CommonName != "Peer Signer" {
		t.Fatalf("puce's: %+v\npdfsig's: %+v", first, second)
	}
	if len(first.Overlays) != 1 || first.Overlays[0].Field != "Signature1" || first.Overlays[0].Page != 1 {
		t.Fatalf("overlays %+v", first.Overlays)
	}
	t.Logf("%+v", first.Overlays)
	if b, _ := exec.Command(pdfsigBin, "-nssdir", db, "-nocert", out).CombinedOutput(); strings.Count(string(b), "Signature is Valid.") != 2 {
		t.Fatalf("pdfsig:\n%s", b)
	}

	// The verifier trusts puce's signer only: the widget drawn over the
	// page is no signature it can hold anyone to.
	if s := verify(t, both, f.verifyOptions()).Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
		t.Fatalf("untrusted second signer: %+v", s)
	}

	// Under a certification with P 1, the same signing is a change.
	os.WriteFile(in, f.certify(t, prepared, 1), 0o600)
	if b, err := exec.Command(pdfsigBin, "-nssdir", db, "-sign", "Signature1", "-nick", "peer signer", in, out).CombinedOutput(); err != nil {
		t.Fatalf("pdfsig -sign: %v\n%s", err, b)
	}
	if both, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	if s := verify(t, both, opts).Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
		t.Fatalf("P 1, signed by pdfsig after: %+v", s)
	} else {
		t.Logf("P 1: %v", s.Changes)
	}
}

// TestFillShapes: fills as other writers save them. A field with its
// widget as a kid (ISO 32000-1 §12.7.3.1), its /V set on the field and the
// appearance on the widget, in two updates: one overlay, the widget's. An
// appearance stream of the signed revision rewritten under its own number
// (the widget's dictionary unchanged): a fill under P 2, reported where it
// draws; a change under P 1, or when a FieldMDP lock covers the field.
func TestFillShapes(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	prepared, field := formFixture(t)
	split, widget, err := pades.SplitField(prepared, field)
	if err != nil {
		t.Fatal(err)
	}
	qpdfCheck(t, split, "a field with a widget kid")
	signed := f.certify(t, split, 2)
	filled := must(t)(pades.AppendFieldSet(signed, field, "V", "("+fillText+")"))
	filled = must(t)(pades.AppendFormFill(filled, widget, fillText))
	qpdfCheck(t, filled, "a field with a widget kid, filled")
	s := verify(t, filled, f.verifyOptions()).Signatures[0]
	if !s.Valid() || len(s.Overlays) != 1 || s.Overlays[0].FormField != "Amount" || s.Overlays[0].Rect != attackBox {
		t.Fatalf("a field with a widget kid, filled: %v %+v", s.Err, s.Overlays)
	}

	// Filled with 12,000 EUR before signing; its appearance stream
	// rewritten after.
	shown := must(t)(pades.AppendFormFill(prepared, field, "Amount: 12,000 EUR"))
	for _, c := range []struct {
		what string
		sign func([]byte) []byte
		ok   bool
	}{
		{"P 2", func(b []byte) []byte { return f.certify(t, b, 2) }, true},
		{"P 1", func(b []byte) []byte { return f.certify(t, b, 1) }, false},
		{"approval locking it", func(b []byte) []byte { return signLocking(t, f, b, "Include", "Amount") }, false},
	} {
		signed := c.sign(shown)
		attack := must(t)(pades.AppendAppearanceRewrite(signed, field, fillText))
		qpdfCheck(t, attack, "an appearance stream rewritten")
		if before, after := rendered(t, signed), rendered(t, attack); before == after {
			t.Fatalf("%s: pdftoppm draws the same (%d dark pixels)", c.what, after)
		}
		s := verify(t, attack, f.verifyOptions()).Signatures[0]
		if c.ok && (!s.Valid() || len(s.Overlays) != 1 || s.Overlays[0].FormField != "Amount") || !c.ok && (s.Valid() || !errors.Is(s.Err, pades.ErrChanged)) {
			t.Fatalf("%s, the appearance stream rewritten: %+v", c.what, s)
		}
		t.Logf("%s: %v %+v", c.what, s.Changes, s.Overlays)
	}
}

// TestNeedAppearances: a shadow attack through the form's
// /NeedAppearances (ISO 32000-1 Table 218). The signer sees a field drawn
// by its appearance (12,000 EUR) while its value says 92,000 EUR; an
// update after the signature sets /NeedAppearances, and readers that
// honour it draw the field from its value. No field was filled: it is a
// change, even under P 2 (a regression test: it always was).
func TestNeedAppearances(t *testing.T) {
	f := newFixture(t, time.Now().Add(-time.Minute).Truncate(time.Second), time.Hour)
	prepared, field := formFixture(t)
	prepared = must(t)(pades.AppendFormFill(prepared, field, "Amount: 12,000 EUR"))
	prepared = must(t)(pades.AppendFieldSet(prepared, field, "V", "(Amount: 92,000 EUR 92,000 EUR 92,000 EUR)"))
	signed := f.certify(t, prepared, 2)
	attack := must(t)(pades.AppendNeedAppearances(signed))
	qpdfCheck(t, attack, "/NeedAppearances set")
	// poppler honours it: pdftoppm draws the value, not the appearance.
	if before, after := rendered(t, signed), rendered(t, attack); before == after {
		t.Fatalf("pdftoppm draws the same: %d dark pixels", after)
	}
	if s := verify(t, attack, f.verifyOptions()).Signatures[0]; s.Valid() || !errors.Is(s.Err, pades.ErrChanged) {
		t.Fatalf("/NeedAppearances set after signing: %+v", s)
	} else {
		t.Logf("%v", s.Changes)
	}
}
