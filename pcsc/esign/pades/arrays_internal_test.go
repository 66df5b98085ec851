package pades

import (
	"bytes"
	"fmt"
	"testing"
)

// indirectArraysDoc is a one-page document whose page keeps its
// annotations, and whose form keeps its fields, in indirect arrays, as some
// writers do; then an update rewriting both arrays in place, as such a
// writer adds a signature (or, with subtype, an annotation).
func indirectArraysDoc(t *testing.T, subtype string, shared bool) (signed, updated []byte) {
	t.Helper()
	var b bytes.Buffer
	offs := map[int]int{}
	obj := func(n int, body string) {
		offs[n] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", n, body)
	}
	xref := func(nums []int, size int, prev int) {
		at := b.Len()
		b.WriteString("xref\n")
		for _, n := range nums {
			fmt.Fprintf(&b, "%d 1\n%010d 00000 n\r\n", n, offs[n])
		}
		p := ""
		if prev >= 0 {
			p = fmt.Sprintf(" /Prev %d", prev)
		}
		fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n", size, p, at)
	}
	b.WriteString("%PDF-1.7\n")
	obj(1, "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields 5 0 R >> >>")
	obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	contents := ""
	if shared {
		contents = " /Contents 4 0 R"
	}
	obj(3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots 4 0 R"+contents+" >>")
	obj(4, "[]")
	obj(5, "[]")
	first := b.Len()
	xref([]int{1, 2, 3, 4, 5}, 6, -1)
	signed = bytes.Clone(b.Bytes())
	if subtype == "Widget" {
		obj(6, "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Second) /V 7 0 R /Rect [300 60 560 110] /F 4 /P 3 0 R >>")
		obj(5, "[6 0 R]")
	} else {
		obj(6, "<< /Type /Annot /Subtype /"+subtype+" /Rect [300 60 560 110] /F 4 /P 3 0 R >>")
	}
	obj(7, "<< /Type /Sig /SubFilter /ETSI.CAdES.detached /ByteRange [0 1 2 3] /Contents <3000> >>")
	obj(4, "[6 0 R]")
	xref([]int{4, 5, 6, 7}, 8, first)
	return signed, b.Bytes()
}

// TestIndirectArraysGrown: a signature added by rewriting the page's
// indirect /Annots and the form's indirect /Fields in place is the same
// permitted change as one that writes them anew (it was "content
// changed"), its widget an overlay; an annotation so added is permitted
// under P 3 only. An array that is the page's /Contents as well is
// content.
func TestIndirectArraysGrown(t *testing.T) {
	for _, c := range []struct {
		subtype string
		p       int
		shared  bool // the array is the page's /Contents too
		ok      bool
	}{{"Widget", 0, false, true}, {"Widget", 2, false, true}, {"Widget", 1, false, false}, {"FreeText", 3, false, true}, {"FreeText", 2, false, false},
		{"FreeText", 3, true, false}} {
		signedBytes, updated := indirectArraysDoc(t, c.subtype, c.shared)
		doc, err := parseDocument(updated)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := parseDocument(signedBytes)
		if err != nil {
			t.Fatal(err)
		}
		j := changesAfter(doc, signed, c.p, nil)
		if (len(j.changes) == 0) != c.ok || c.ok && (len(j.overlays) != 1 || j.overlays[0].Page != 1 || j.overlays[0].Annotation != c.subtype) {
			t.Errorf("%s, P %d: changes %v, overlays %+v", c.subtype, c.p, j.changes, j.overlays)
		}
	}
}
