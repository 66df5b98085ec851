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
// fields, as a signer copies them from the field's /Lock.
func PrepareLocking(pdf []byte, opts SignOptions, action string, fields ...string) (*Pending, error) {
	doc, err := parseDocument(pdf)
	if err != nil {
		return nil, err
	}
	root, _ := doc.trailer.get("Root").(ref)
	var list array
	for _, f := range fields {
		list = append(list, pdfStr(f))
	}
	tail := fmt.Sprintf("/M %s /Reference [<< /Type /SigRef /TransformMethod /FieldMDP /Data %d %d R /TransformParams << /Type /TransformParams /Action /%s /Fields %s /V /1.2 >> >>]",
		serialize(pdfStr(pdfDate(opts.Time))), root.num, root.gen, action, serialize(list))
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
