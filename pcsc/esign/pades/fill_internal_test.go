package pades

import (
	"bytes"
	"fmt"
	"testing"
)

// TestSignatureWidgetActions: a signature added with a widget that
// carries a JavaScript or Launch action (ISO 32000-1 §12.6.4.16,
// §12.6.4.5), in /A or /AA, is not the signing Table 254 permits but a
// script added to the document; a link (§12.6.4.7) is navigation.
func TestSignatureWidgetActions(t *testing.T) {
	for _, c := range []struct {
		actions string
		ok      bool
	}{
		{"", true},
		{"/A << /S /URI /URI (https://example.org/) >>", true},
		{"/AA << /PO << /S /JavaScript /JS (app.alert(1)) >> >>", false},
		{"/A << /S /GoTo /D [3 0 R /Fit] /Next << /S /Launch /F (calc.exe) >> >>", false},
	} {
		signed, doc := revisions(t, map[int]string{
			1: "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] >> >>",
			2: "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			3: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [] >>",
		}, map[int]string{
			1: "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] /SigFlags 3 >> >>",
			3: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>",
			4: "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Second) /V 5 0 R /Rect [0 0 0 0] /F 4 /P 3 0 R " + c.actions + " >>",
			5: "<< /Type /Sig /SubFilter /ETSI.CAdES.detached /ByteRange [0 1 2 3] /Contents <3000> >>",
		})
		if j := changesAfter(doc, signed, 2, nil); (len(j.changes) == 0) != c.ok {
			t.Errorf("%q: %v", c.actions, j.changes)
		}
	}
}

// TestFieldLocked: which fields a FieldMDP lock covers (ISO 32000-1
// Table 256), a field named covering those under it (§12.7.3.2), read
// from a signature field's /Lock (Table 233) alone, with the /P of ISO
// 32000-2 Table 236.
func TestFieldLocked(t *testing.T) {
	doc, _ := revisions(t, map[int]string{1: "<< /Type /Catalog >>"}, nil)
	l := &lexer{buf: []byte("<< /Type /SigFieldLock /Action /Include /Fields [(a.b) (c)] /P 2 >>")}
	lock, err := l.object(0)
	if err != nil {
		t.Fatal(err)
	}
	locks, p := doc.fieldLocks(newDict(), lock)
	if len(locks) != 1 || p != 2 {
		t.Fatalf("%+v, P %d", locks, p)
	}
	for name, want := range map[string]bool{"a.b": true, "a.b.x": true, "a": false, "a.bc": false, "c": true, "d": false} {
		if got := locks[0].locked(name); got != want {
			t.Errorf("%s: locked %v", name, got)
		}
	}
	// The same name as UTF-16BE (ISO 32000-1 §7.9.2.2) in the lock.
	l = &lexer{buf: []byte("<< /Action /Include /Fields [<FEFF0061002E0062>] >>")}
	if lock, err = l.object(0); err != nil {
		t.Fatal(err)
	}
	if locks, _ := doc.fieldLocks(newDict(), lock); len(locks) != 1 || !locks[0].locked("a.b") || text(pdfStr("\xef\xbb\xbfa.b")) != "a.b" {
		t.Errorf("a name in UTF-16: %+v", locks)
	}
	if (&fieldLock{exclude: true, names: []string{"c"}}).locked("c") || !(&fieldLock{all: true}).locked("x") {
		t.Error("Exclude or All")
	}
}

// revisions writes a document of objects (number → body) and an update of
// more, and returns both revisions parsed.
func revisions(t *testing.T, objs, update map[int]string) (signed, doc *document) {
	t.Helper()
	var b bytes.Buffer
	offs := map[int]int{}
	section := func(objs map[int]string, prev int) int {
		nums := []int{}
		for n, body := range objs {
			offs[n] = b.Len()
			fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", n, body)
			nums = append(nums, n)
		}
		at := b.Len()
		b.WriteString("xref\n")
		size := 0
		for _, n := range nums {
			fmt.Fprintf(&b, "%d 1\n%010d 00000 n\r\n", n, offs[n])
			size = max(size, n+1)
		}
		p := ""
		if prev >= 0 {
			p = fmt.Sprintf(" /Prev %d", prev)
		}
		fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n", size+10, p, at)
		return at
	}
	b.WriteString("%PDF-1.7\n")
	first := section(objs, -1)
	signed, err := parseDocument(bytes.Clone(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	section(update, first)
	if doc, err = parseDocument(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return signed, doc
}

// TestFillFieldOnlyAPageLists: a text field that only a page's /Annots
// lists, not /AcroForm /Fields (as pdfsig writes its own), filled: a fill
// as any other, reported where it draws.
func TestFillFieldOnlyAPageLists(t *testing.T) {
	base := map[int]string{
		1: "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] >> >>",
		2: "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		3: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>",
		4: "<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /Rect [60 690 540 780] /F 4 /P 3 0 R >>",
	}
	for _, c := range []struct {
		field string
		ok    bool
	}{
		{"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /V (92,000 EUR) /AP << /N 5 0 R >> /Rect [60 690 540 780] /F 4 /P 3 0 R >>", true},
		{"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /V (92,000 EUR) /AP << /N 5 0 R >> /Rect [60 600 540 780] /F 4 /P 3 0 R >>", false},
	} {
		signed, doc := revisions(t, base, map[int]string{4: c.field, 5: "<< /Type /XObject /Subtype /Form /BBox [0 0 480 90] /Length 0 >>\nstream\n\nendstream"})
		j := changesAfter(doc, signed, 2, nil)
		if (len(j.changes) == 0) != c.ok || c.ok && (len(j.overlays) != 1 || j.overlays[0].FormField != "Amount" || j.overlays[0].Page != 1) {
			t.Errorf("%s: %v %+v", c.field, j.changes, j.overlays)
		}
	}
}
