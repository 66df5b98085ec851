package pades

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// hostileAnnots is a PDF whose page names one widget thousands of times,
// and thousands of other widgets that share one parent holding a large
// string: a search that resolved the parent once per widget would read
// it thousands of times.
func hostileAnnots(t *testing.T, repeats, widgets int) []byte {
	t.Helper()
	var b bytes.Buffer
	offs := map[int]int{}
	obj := func(n int, body string) {
		offs[n] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", n, body)
	}
	b.WriteString("%PDF-1.7\n")
	annots := strings.Repeat("4 0 R ", repeats)
	for i := range widgets {
		annots += fmt.Sprintf("%d 0 R ", 10+i)
	}
	obj(1, "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] >> >>")
	obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Annots ["+annots+"] >>")
	obj(4, "<< /Type /Annot /Subtype /Widget /Parent 5 0 R >>")
	obj(5, "<< /T (big) /X ("+strings.Repeat("x", 100000)+") >>")
	for i := range widgets {
		obj(10+i, "<< /Type /Annot /Subtype /Widget /Parent 5 0 R >>")
	}
	size := 10 + widgets
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", size)
	for n := 1; n < size; n++ {
		if off, ok := offs[n]; ok {
			fmt.Fprintf(&b, "%010d 00000 n \n", off)
		} else {
			b.WriteString("0000000000 65535 f \n")
		}
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", size, xref)
	return b.Bytes()
}

// TestAnnotsSearchIsLinear: the search for signature widgets outside the
// field tree reads each object once, however many annotations name the
// same widget or the same parent (found in review: it read the parent
// once per annotation, hours of work for a file of a few megabytes).
func TestAnnotsSearchIsLinear(t *testing.T) {
	const repeats, widgets = 3000, 300
	doc, err := parseDocument(hostileAnnots(t, repeats, widgets))
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := doc.signatures()
	if err != nil || len(sigs) != 0 {
		t.Fatalf("%d signatures, %v", len(sigs), err)
	}
	// The catalog, pages and page, the widgets and the parent, each once,
	// plus what the field-tree walk reads of the parent again.
	if max := widgets + 20; doc.reads > max {
		t.Fatalf("%d objects read for %d annotations of %d widgets, want at most %d", doc.reads, repeats+widgets, widgets+1, max)
	}
	t.Logf("%d objects read for %d annotations", doc.reads, repeats+widgets)
}

// TestAnnotsSearchWithoutForm: a signature widget on a page of a document
// with no /AcroForm at all is found too (found in review: the search ran
// only when a form existed), and a page tree with a kid that is missing
// does not undo what the field tree found.
func TestAnnotsSearchWithoutForm(t *testing.T) {
	for name, kids := range map[string]string{"whole page tree": "[3 0 R]", "a missing kid first": "[9 0 R 3 0 R]"} {
		var b bytes.Buffer
		offs := map[int]int{}
		obj := func(n int, body string) {
			offs[n] = b.Len()
			fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", n, body)
		}
		b.WriteString("%PDF-1.7\n")
		obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
		obj(2, "<< /Type /Pages /Kids "+kids+" /Count 1 >>")
		obj(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Annots [4 0 R] >>")
		obj(4, "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Peer) /V 5 0 R >>")
		obj(5, "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 10 20 10] /Contents <3000> >>")
		xref := b.Len()
		fmt.Fprintf(&b, "xref\n0 6\n0000000000 65535 f \n")
		for n := 1; n < 6; n++ {
			fmt.Fprintf(&b, "%010d 00000 n \n", offs[n])
		}
		fmt.Fprintf(&b, "trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", xref)
		doc, err := parseDocument(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		sigs, err := doc.signatures()
		if err != nil || len(sigs) != 1 || sigs[0].field != "Peer" {
			t.Fatalf("%s: %+v, %v", name, sigs, err)
		}
	}
}
