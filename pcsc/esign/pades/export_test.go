package pades

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
)

// AppendContentChange appends an incremental update that replaces the
// first page's content with other text, as an editor saving a change
// would: for tests of "changed after signing".
func AppendContentChange(pdf []byte) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	pageRef, page, err := doc.firstPage()
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	content := u.alloc()
	u.put(content, &stream{dict: newDict(), raw: []byte("BT /F1 24 Tf 72 760 Td (Loan agreement 2026-1142: 92,000 EUR) Tj ET")})
	p := page.clone()
	p.set("Contents", content)
	u.put(pageRef, p)
	return u.bytes(), nil
}

// Prepared exposes the pending document for tests that sign with a peer.
func (p *Pending) Prepared() (pdf []byte, at, hexLen int) { return p.pdf, p.contentsAt, p.contentsLen }

// Certificate and Base expose the signer and where the update begins.
func (p *Pending) Certificate() *x509.Certificate { return p.cert }
func (p *Pending) Base() int                      { return p.base }

// Fill puts a signature made elsewhere into the placeholder.
func Fill(pdf []byte, at, hexLen int, value []byte) ([]byte, error) {
	return fill(pdf, at, hexLen, value)
}

// MakeHybrid appends a hybrid-reference update (ISO 32000-1 §7.5.8.4), as
// Word's "compatible" PDFs are: a new page content object stored in an
// object stream, which only the cross-reference stream named by the
// classic trailer's /XRefStm lists, and the page pointing at it.
func MakeHybrid(pdf []byte) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	pageRef, page, err := doc.firstPage()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(pdf)
	next := doc.size
	// The object stream holds one dictionary: an annotation-free resource
	// the page names, so that reading the page needs the stream.
	inner := "<< /Hybrid true >>"
	header := fmt.Sprintf("%d 0 ", next)
	stmNum, xrefNum := next+1, next+2
	stmOff := b.Len()
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /ObjStm /N 1 /First %d /Length %d >>\nstream\n%s%s\nendstream\nendobj\n", stmNum, len(header), len(header)+len(inner), header, inner)
	p := page.clone()
	p.set("PieceInfo", ref{next, 0})
	pageOff := b.Len()
	fmt.Fprintf(&b, "%d %d obj\n%s\nendobj\n", pageRef.num, pageRef.gen, serialize(p))
	xrefOff := b.Len()
	rows := []byte{2, 0, 0, byte(stmNum >> 8), byte(stmNum), 0, 0}
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%d 1] /Length %d >>\nstream\n%s\nendstream\nendobj\n", xrefNum, xrefNum+1, next, len(rows), rows)
	tableOff := b.Len()
	fmt.Fprintf(&b, "xref\n%d 1\n%010d %05d n\r\n%d 2\n%010d 00000 n\r\n%010d 00000 n\r\n", pageRef.num, pageOff, pageRef.gen, stmNum, stmOff, xrefOff)
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root %d %d R /Prev %d /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n",
		xrefNum+1, doc.trailer.get("Root").(ref).num, doc.trailer.get("Root").(ref).gen, doc.lastXref, xrefOff, tableOff)
	return b.Bytes(), nil
}

// PieceInfoOfFirstPage reads the first page's /PieceInfo through the
// cross-reference information: MakeHybrid's object, which only the
// /XRefStm stream lists.
func PieceInfoOfFirstPage(pdf []byte) (bool, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return false, err
	}
	_, page, err := doc.firstPage()
	if err != nil {
		return false, err
	}
	d, err := doc.resolveDict(page.get("PieceInfo"))
	if err != nil || d == nil {
		return false, err
	}
	return d.get("Hybrid") == true, nil
}

// AppendPageContents appends an update making the first page's /Contents
// its old content followed by a reference to object num, and, when body is
// not empty, object num as a content stream of body.
func AppendPageContents(pdf []byte, num int, body string, editPage bool) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	u.next = max(u.next, num+1)
	if editPage {
		pageRef, page, err := doc.firstPage()
		if err != nil {
			return nil, err
		}
		p := page.clone()
		p.set("Contents", array{page.get("Contents"), ref{num, 0}})
		u.put(pageRef, p)
	}
	if body != "" {
		u.put(ref{num, 0}, &stream{dict: newDict(), raw: []byte(body)})
	}
	return u.bytes(), nil
}

// AppendContentAsInfo appends an update that replaces the first page's
// content stream in place (same object number) and names that object the
// document information dictionary in the trailer: a change hidden behind
// the exemption of /Info from the changes judged.
func AppendContentAsInfo(pdf []byte) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	_, page, err := doc.firstPage()
	if err != nil {
		return nil, err
	}
	content, ok := page.get("Contents").(ref)
	if !ok {
		arr, _ := page.get("Contents").(array)
		if len(arr) == 0 {
			return nil, fmt.Errorf("no content stream")
		}
		if content, ok = arr[0].(ref); !ok {
			return nil, fmt.Errorf("no content stream reference")
		}
	}
	u := newUpdate(doc)
	u.put(content, &stream{dict: newDict(), raw: []byte("BT /F1 24 Tf 72 760 Td (Loan agreement 2026-1142: 92,000 EUR) Tj ET")})
	doc.trailer.set("Info", content)
	return u.bytes(), nil
}

// PrepareCertified is Prepare for a certification signature (ISO 32000-1
// §12.8.2.2): the signature dictionary's /Reference holds a DocMDP
// transform with permissions p, and the catalog's /Perms /DocMDP names
// the signature dictionary. Puce does not certify; other signers do.
func PrepareCertified(pdf []byte, opts SignOptions, p int) (*Pending, error) {
	doc, catRef, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	// A first update names the signature dictionary to come: the next
	// object number, which withPlaceholder allocates first.
	u := newUpdate(doc)
	sigNum := u.next
	perms := newDict()
	perms.set("DocMDP", ref{sigNum, 0})
	c := cat.clone()
	c.set("Perms", perms)
	u.put(catRef, c)
	pdf = u.bytes()
	if d, err := parseDocument(pdf); err != nil || newUpdate(d).next != sigNum {
		return nil, fmt.Errorf("the signature dictionary would not be object %d", sigNum)
	}
	tail := fmt.Sprintf("/M %s /Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams << /Type /TransformParams /P %d /V /1.2 >> >>]",
		serialize(pdfStr(pdfDate(opts.Time))), p)
	out, at, hexLen, err := withPlaceholder(pdf, "/Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached", tail, DefaultContentsSize, nil)
	if err != nil {
		return nil, err
	}
	digest := rangesDigest(out, at, hexLen)
	cms, err := esign.PrepareDigest(digest, opts.Certificate, time.Time{})
	if err != nil {
		return nil, err
	}
	return &Pending{Digest: cms.Digest, DocumentDigest: digest, Level: opts.Level, pdf: out, contentsAt: at, contentsLen: hexLen, cms: cms, cert: opts.Certificate}, nil
}

// AppendUnsignedSignatureField appends an update adding, as Prepare does, a
// signature field and widget on the first page — but with no signature
// value (/V) and a visible appearance showing text over the page: an empty
// signature field as a cover for new content.
func AppendUnsignedSignatureField(pdf []byte, text string) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	fieldNum := u.next // addField's first allocation
	if err := u.addField(ref{}, &Appearance{Rect: [4]float64{72, 690, 520, 770}, Lines: []string{text}}); err != nil {
		return nil, err
	}
	for _, o := range u.objs {
		if o.num != fieldNum {
			continue
		}
		l := &lexer{buf: o.body}
		w, err := l.object(0)
		if err != nil {
			return nil, err
		}
		wd := w.(*dict).clone()
		wd.set("V", nil)
		u.put(ref{o.num, o.gen}, wd)
		return u.bytes(), nil
	}
	return nil, fmt.Errorf("the widget is not object %d", fieldNum)
}

// AppendWidgetOfSignedField appends an update adding to the first page a
// widget annotation with a visible appearance whose /Parent is the
// document's first signature field, already signed: a new widget that
// borrows an earlier signature as its value.
func AppendWidgetOfSignedField(pdf []byte, text string) ([]byte, error) {
	f, err := openForm(pdf)
	if err != nil {
		return nil, err
	}
	doc := f.doc
	signedField, ok := f.fields[0].(ref)
	if !ok {
		return nil, fmt.Errorf("the field is not a reference")
	}
	pageRef, page, err := doc.firstPage()
	if err != nil {
		return nil, err
	}
	u := newUpdate(doc)
	wRef := u.alloc()
	w := newDict()
	w.set("Type", name("Annot"))
	w.set("Subtype", name("Widget"))
	w.set("Parent", signedField)
	w.set("P", pageRef)
	u.appearance(w, &Appearance{Rect: [4]float64{72, 690, 520, 770}, Lines: []string{text}})
	u.put(wRef, w)
	ao, _ := doc.resolve(page.get("Annots"))
	annots, _ := ao.(array)
	p := page.clone()
	p.set("Annots", append(append(array{}, annots...), wRef))
	u.put(pageRef, p)
	return u.bytes(), nil
}

// WithDSS appends vd to the document security store, as AddValidationData
// does with what it collects.
func WithDSS(pdf []byte, vd *esign.ValidationData) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	return withDSS(doc, vd)
}

// AppendDSSInPlace appends an update that rewrites the document security
// store's own objects with more validation data — the /DSS dictionary
// under its object number and, when indirect, its /Certs array — as
// a signer that keeps one store extends it, rather than
// writing a new one as AddValidationData does; cert is the certificate
// added.
func AppendDSSInPlace(pdf []byte, cert []byte) ([]byte, error) {
	doc, _, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	dssRef, ok := cat.get("DSS").(ref)
	if !ok {
		return nil, fmt.Errorf("no indirect /DSS")
	}
	dss, err := doc.resolveDict(dssRef)
	if err != nil || dss == nil {
		return nil, fmt.Errorf("no /DSS: %v", err)
	}
	u := newUpdate(doc)
	c := u.alloc()
	u.put(c, &stream{dict: newDict(), raw: cert})
	d := dss.clone()
	if certsRef, ok := dss.get("Certs").(ref); ok {
		o, _ := doc.resolve(certsRef)
		arr, _ := o.(array)
		u.put(certsRef, append(append(array{}, arr...), c))
	} else {
		o, _ := doc.resolve(dss.get("Certs"))
		arr, _ := o.(array)
		// The array becomes an indirect object of its own, which
		// the next extension rewrites in place.
		a := u.alloc()
		u.put(a, append(append(array{}, arr...), c))
		d.set("Certs", a)
	}
	u.put(dssRef, d)
	return u.bytes(), nil
}

// AppendFieldsSharingSignature appends an update adding n signature fields
// to the form whose value is the first field's signature dictionary: one
// signature, verified as many times as fields name it.
func AppendFieldsSharingSignature(pdf []byte, n int) ([]byte, error) {
	f, err := openForm(pdf)
	if err != nil {
		return nil, err
	}
	doc, catRef, cat, form, fields := f.doc, f.catRef, f.cat, f.form, f.fields
	first, err := doc.resolveDict(fields[0])
	if err != nil || first == nil {
		return nil, fmt.Errorf("no field: %v", err)
	}
	u := newUpdate(doc)
	all := append(array{}, fields...)
	for i := 0; i < n; i++ {
		r := u.alloc()
		f := newDict()
		f.set("FT", name("Sig"))
		f.set("T", pdfStr(fmt.Sprintf("Copy%d", i)))
		f.set("V", first.get("V"))
		u.put(r, f)
		all = append(all, r)
	}
	nf := form.clone()
	nf.set("Fields", all)
	c := cat.clone()
	if formRef, ok := cat.get("AcroForm").(ref); ok {
		u.put(formRef, nf)
	} else {
		c.set("AcroForm", nf)
		u.put(catRef, c)
	}
	return u.bytes(), nil
}

// testForm is a signed document's catalog and form, for the helpers that
// tamper with its fields.
type testForm struct {
	doc    *document
	catRef ref
	cat    *dict
	form   *dict
	fields array
}

// openForm parses pdf and finds its form, which must have a field.
func openForm(pdf []byte) (*testForm, error) {
	doc, catRef, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	form, err := doc.resolveDict(cat.get("AcroForm"))
	if err != nil || form == nil {
		return nil, fmt.Errorf("no form: %v", err)
	}
	fo, _ := doc.resolve(form.get("Fields"))
	fields, _ := fo.(array)
	if len(fields) == 0 {
		return nil, fmt.Errorf("no field")
	}
	return &testForm{doc, catRef, cat, form, fields}, nil
}

// parseCatalog parses pdf and resolves its catalog, as the attacks built
// here all begin.
func parseCatalog(pdf []byte) (*document, ref, *dict, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, ref{}, nil, err
	}
	catRef, cat, err := doc.catalog()
	return doc, catRef, cat, err
}
