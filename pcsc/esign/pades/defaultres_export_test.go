package pades

import "fmt"

// AppendDRFont appends an update adding to the form's default resources
// /DR a new Courier font under fontName, as a filler adds the font it
// drew a value with (defaultres.go).
func AppendDRFont(pdf []byte, fontName string) ([]byte, error) {
	doc, catRef, cat, err := parseCatalog(pdf)
	if err != nil {
		return nil, err
	}
	formRef, indirect := cat.get("AcroForm").(ref)
	form, err := doc.resolveDict(cat.get("AcroForm"))
	if err != nil || form == nil {
		return nil, fmt.Errorf("no form: %v", err)
	}
	dr, _ := doc.resolveDict(form.get("DR"))
	if dr == nil {
		dr = newDict()
	}
	fonts, _ := doc.resolveDict(dr.get("Font"))
	if fonts == nil {
		fonts = newDict()
	}
	u := newUpdate(doc)
	font := u.alloc()
	fd := newDict()
	fd.set("Type", name("Font"))
	fd.set("Subtype", name("Type1"))
	fd.set("BaseFont", name("Courier"))
	u.put(font, fd)
	nf := fonts.clone()
	nf.set(name(fontName), font)
	ndr := dr.clone()
	ndr.set("Font", nf)
	nform := form.clone()
	nform.set("DR", ndr)
	if indirect {
		u.put(formRef, nform)
	} else {
		c := cat.clone()
		c.set("AcroForm", nform)
		u.put(catRef, c)
	}
	return u.bytes(), nil
}
