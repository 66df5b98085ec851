package pades

import (
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
)

// Builders for fill_test.go: form fields changed after a signature, and
// signatures that lock fields or certify late.

// AppendFieldSet appends an update setting key of object num (a field or
// widget dictionary) to value, written in PDF syntax.
func AppendFieldSet(pdf []byte, num int, key, value string) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	d, err := doc.resolveDict(ref{num, 0})
	if err != nil || d == nil {
		return nil, fmt.Errorf("no object %d: %v", num, err)
	}
	l := &lexer{buf: []byte(value)}
	v, err := l.object(0)
	if err != nil {
		return nil, err
	}
	n := d.clone()
	n.set(name(key), v)
	u := newUpdate(doc)
	u.put(ref{num, 0}, n)
	return u.bytes(), nil
}

// PrepareLocking is Prepare for an approval signature at B-B whose
// signature reference dictionary holds a FieldMDP transform (ISO 32000-1
// §12.8.2.4, Tables 253 and 256) with action (All, Include, Exclude) over
// fields, as a signer copies them from the field's /Lock, and, when p is
// not 0, the lock's permissions /P (ISO 32000-2 Table 236).
func PrepareLocking(pdf []byte, opts SignOptions, p int, action string, fields ...string) (*Pending, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	root, _ := doc.trailer.get("Root").(ref)
	var list array
	for _, f := range fields {
		list = append(list, pdfStr(f))
	}
	perms := ""
	if p != 0 {
		perms = fmt.Sprintf(" /P %d", p)
	}
	tail := fmt.Sprintf("/M %s /Reference [<< /Type /SigRef /TransformMethod /FieldMDP /Data %d %d R /TransformParams << /Type /TransformParams /Action /%s /Fields %s%s /V /1.2 >> >>]",
		serialize(pdfStr(pdfDate(opts.Time))), root.num, root.gen, action, serialize(list), perms)
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

// AppendActionAnnotation is AppendAnnotation with an action (ISO 32000-1
// §12.6.4) of type s whose entry key holds value, in /A, or in /AA under
// trigger when trigger is not empty.
func AppendActionAnnotation(pdf []byte, s, key, value, trigger string) ([]byte, error) {
	out, err := AppendAnnotation(pdf, "Square", "")
	if err != nil {
		return nil, err
	}
	doc, err := parseDocument(out)
	if err != nil {
		return nil, err
	}
	num := doc.size - 1
	for num > 0 {
		if d, _ := doc.resolveDict(ref{num, 0}); d != nil && d.get("Subtype") == name("Square") {
			break
		}
		num--
	}
	act := fmt.Sprintf("<< /S /%s /%s %s >>", s, key, value)
	if trigger != "" {
		return AppendFieldSet(out, num, "AA", fmt.Sprintf("<< /%s %s >>", trigger, act))
	}
	return AppendFieldSet(out, num, "A", act)
}

// SplitField appends an update making the merged text field num a field
// of its own with one widget kid (ISO 32000-1 §12.7.3.1) that the first
// page lists; it returns the widget's number.
func SplitField(pdf []byte, num int) ([]byte, int, error) {
	doc, pageRef, page, err := openFirstPage(pdf)
	if err != nil {
		return nil, 0, err
	}
	fd, err := doc.resolveDict(ref{num, 0})
	if err != nil || fd == nil {
		return nil, 0, fmt.Errorf("no field %d: %v", num, err)
	}
	u := newUpdate(doc)
	w := u.alloc()
	wd, field := newDict(), newDict()
	for _, k := range fd.keys {
		switch k {
		case "Type", "Subtype", "Rect", "F", "P", "AP", "MK":
			wd.set(k, fd.get(k))
		default:
			field.set(k, fd.get(k))
		}
	}
	wd.set("Parent", ref{num, 0})
	field.set("Kids", array{w})
	u.put(w, wd)
	u.put(ref{num, 0}, field)
	ao, _ := doc.resolve(page.get("Annots"))
	annots, _ := ao.(array)
	var list array
	for _, a := range annots {
		if r, ok := a.(ref); ok && r.num == num {
			a = w
		}
		list = append(list, a)
	}
	p := page.clone()
	p.set("Annots", list)
	u.put(pageRef, p)
	return u.bytes(), w.num, nil
}

// AppendAppearanceRewrite appends an update rewriting, under its own
// number, the normal appearance stream of widget num to show text: a
// fill that keeps the widget's dictionary as it was.
func AppendAppearanceRewrite(pdf []byte, num int, text string) ([]byte, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	wd, err := doc.resolveDict(ref{num, 0})
	if err != nil || wd == nil {
		return nil, fmt.Errorf("no widget %d: %v", num, err)
	}
	ap, _ := doc.resolveDict(wd.get("AP"))
	r, ok := ap.get("N").(ref)
	if !ok {
		return nil, fmt.Errorf("no indirect appearance")
	}
	o, err := doc.getObject(r.num)
	st, isStream := o.(*stream)
	if err != nil || !isStream {
		return nil, fmt.Errorf("no appearance stream: %v", err)
	}
	u := newUpdate(doc)
	var body []byte
	body = fmt.Appendf(body, "BT 0.1 0.1 0.1 rg /Helv 14 Tf 4 60 Td %s Tj ET", serialize(pdfStr(text)))
	u.put(r, &stream{dict: st.dict, raw: body})
	return u.bytes(), nil
}

// AppendNeedAppearances appends an update setting the form's
// /NeedAppearances (ISO 32000-1 Table 218): readers then draw each field
// from its value, not from the appearance it was signed with.
func AppendNeedAppearances(pdf []byte) ([]byte, error) {
	f, err := openForm(pdf)
	if err != nil {
		return nil, err
	}
	u := newUpdate(f.doc)
	nf := f.form.clone()
	nf.set("NeedAppearances", true)
	if formRef, ok := f.cat.get("AcroForm").(ref); ok {
		u.put(formRef, nf)
	} else {
		c := f.cat.clone()
		c.set("AcroForm", nf)
		u.put(f.catRef, c)
	}
	return u.bytes(), nil
}
