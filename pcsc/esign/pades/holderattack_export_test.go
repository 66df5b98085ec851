package pades

import (
	"bytes"
	"fmt"
)

// Builders of the hostile updates of holderattack_test.go: sections
// appended, byte by byte, after a prepared signature's update, as a
// server that wants a reader to show other content than the document
// shown would write them.

// RawObject is an object an appended section writes: Body is everything
// from "n g obj" to "endobj". Listed puts it in the section's table,
// under ListGen as its generation.
type RawObject struct {
	Num     int
	Body    []byte
	Listed  bool
	ListGen int
}

// AppendRawSection appends to pdf the objects, a classic cross-reference
// table listing those Listed, a trailer naming the last one's catalog
// and /Prev, between, startxref and %%EOF, then tail.
func AppendRawSection(pdf []byte, objs []RawObject, between, tail string) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(pdf)
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		b.Write(o.Body)
		b.WriteString("\n")
	}
	x := b.Len()
	b.WriteString("xref\n")
	for i, o := range objs {
		if o.Listed {
			fmt.Fprintf(&b, "%d 1\n%010d %05d n\r\n", o.Num, offs[i], o.ListGen)
		}
	}
	t := newDict()
	for _, k := range []name{"Size", "Root", "Info", "ID"} {
		if v := doc.trailer.get(k); v != nil {
			t.set(k, v)
		}
	}
	size, _ := t.get("Size").(number)
	n, _ := size.int()
	for _, o := range objs {
		n = max(n, int64(o.Num)+1)
	}
	t.set("Size", number(fmt.Sprint(n)))
	t.set("Prev", number(fmt.Sprint(doc.lastXref)))
	b.WriteString("trailer\n")
	writeObject(&b, t)
	fmt.Fprintf(&b, "\n%sstartxref\n%d\n%%%%EOF\n%s", between, x, tail)
	return b.Bytes(), nil
}

// RawObjectOf returns object num of pdf as written, "n g obj" to
// "endobj", with its generation rewritten to gen.
func RawObjectOf(pdf []byte, num, gen int) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	e := doc.xref[num]
	if e.kind != 1 {
		return nil, fmt.Errorf("object %d is not stored directly", num)
	}
	body := doc.data[e.off:]
	end := bytes.Index(body, []byte("endobj"))
	if end < 0 {
		return nil, fmt.Errorf("object %d has no endobj", num)
	}
	body = bytes.Clone(body[:end+len("endobj")])
	h := fmt.Sprintf("%d %d obj", num, e.gen)
	if !bytes.HasPrefix(body, []byte(h)) {
		return nil, fmt.Errorf("object %d does not start as %q", num, h)
	}
	return append([]byte(fmt.Sprintf("%d %d obj", num, gen)), body[len(h):]...), nil
}

// WithDeletedAnnotation appends an update that adds to the first page's
// /Annots an annotation drawing other text over the page, whose
// cross-reference entry says free: readers of the table see null there
// (ISO 32000-1 §7.3.10), a reader that rebuilds the table by scanning
// finds the annotation. It returns the file.
func WithDeletedAnnotation(pdf []byte) ([]byte, error) {
	doc, pageRef, page, err := openFirstPage(pdf)
	if err != nil {
		return nil, err
	}
	res, _ := doc.resolveDict(page.get("Resources"))
	u := newUpdate(doc)
	ap, annot := u.alloc(), u.alloc()
	fd := newDict()
	fd.set("Type", name("XObject"))
	fd.set("Subtype", name("Form"))
	fd.set("BBox", array{number("0"), number("0"), number("480"), number("90")})
	fd.set("Resources", res)
	u.put(ap, &stream{dict: fd, raw: []byte("q 1 1 1 rg 0 0 480 90 re f Q BT /F1 24 Tf 10 40 Td (Amount: 92,000 EUR) Tj ET")})
	a := newDict()
	a.set("Type", name("Annot"))
	a.set("Subtype", name("Square"))
	a.set("Rect", array{number("60"), number("690"), number("540"), number("780")})
	n := newDict()
	n.set("N", ap)
	a.set("AP", n)
	u.put(annot, a)
	p := page.clone()
	p.set("Annots", array{annot})
	u.put(pageRef, p)
	out := u.bytes()
	at := bytes.Index(out[len(pdf):], []byte(fmt.Sprintf("%d 0 obj", annot.num)))
	entry := []byte(fmt.Sprintf("%010d 00000 n", len(pdf)+at))
	if at < 0 || bytes.Count(out, entry) != 1 {
		return nil, fmt.Errorf("the annotation's entry is not in the table")
	}
	return bytes.Replace(out, entry, []byte(fmt.Sprintf("%010d 00001 f", 0)), 1), nil
}

// WithManyAnnots appends an update giving the first page an /Annots of n
// distinct references to objects that do not exist (null, ISO 32000-1
// §7.3.10): the work judging a later /Annots must not grow as its square.
func WithManyAnnots(pdf []byte, n int) ([]byte, error) {
	doc, pageRef, page, err := openFirstPage(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	annots := make(array, n)
	for i := range annots {
		annots[i] = ref{u.next + 1000 + i, 0}
	}
	p := page.clone()
	p.set("Annots", annots)
	u.put(pageRef, p)
	return u.bytes(), nil
}
