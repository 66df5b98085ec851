package pades

import (
	"bytes"
	"fmt"
	"slices"
)

// The form's default resources when a field is filled. A reader fills a
// text or choice field by drawing its value anew with the font the
// field's /DA names from the form's /DR (ISO 32000-1 §12.7.3.3, variable
// text; /DR and /DA in §12.7.2, Table 218). When the value has characters
// that font cannot show, a filler adds a font that can to /DR under a
// name of its own — poppler, behind Evince and Okular, does, as
// /popplerfont — and draws the new appearance with it. That is part of
// filling in forms (Table 254): it changes nothing a reader draws from
// the signed revision, as long as the new name is one nothing there uses.
// A font replaced under a name the signed revision knows, or a name
// added that a signed field's /DA or a signed stream already calls —
// to be found later in /DR by readers that look there for what an
// appearance stream lacks — would change how a signed field is drawn:
// both are changes, as is anything else /DR gains or loses.

// drChange judges the form's /DR, oldDR in the signed revision and newDR
// now: "" when it only gained fonts under unused names, with fills
// permitted.
func (j *judge) drChange(oldDR, newDR object) string {
	const changed = "the form's /DR changed"
	od, _ := j.signed.resolveDict(oldDR)
	nd, _ := j.doc.resolveDict(newDR)
	if j.p == 1 || nd == nil {
		return changed
	}
	if od == nil {
		od = newDict()
	}
	if k := differingKeys(od, nd, "Font"); k != "" {
		return "the form's /DR " + k + " changed"
	}
	if bytes.Equal(serialize(od.get("Font")), serialize(nd.get("Font"))) {
		return "" // the same font dictionary, judged as an object of its own if indirect
	}
	return j.fontsAdded(od.get("Font"), nd.get("Font"))
}

// fontsAdded judges /DR's /Font, oldF in the signed revision and newF
// now: "" when each font the signed revision named is still there under
// its name and the fonts added are new font dictionaries under names
// nothing in the signed revision uses.
func (j *judge) fontsAdded(oldF, newF object) string {
	of, _ := j.signed.resolveDict(oldF)
	nf, _ := j.doc.resolveDict(newF)
	if nf == nil {
		return "the form's /DR fonts were removed"
	}
	if of == nil {
		of = newDict()
	}
	var added []name
	for _, k := range nf.keys {
		if of.get(k) == nil {
			added = append(added, k)
		}
	}
	for _, k := range of.keys {
		if !bytes.Equal(serialize(of.get(k)), serialize(nf.get(k))) {
			return fmt.Sprintf("the form's /DR font /%s changed", k)
		}
	}
	for _, k := range added {
		v := nf.get(k)
		if r, ok := v.(ref); ok && j.signed.has(r) {
			return fmt.Sprintf("the form's /DR gained font /%s, an object of the signed revision", k)
		}
		if fd, _ := j.doc.resolveDict(v); fd.get("Type") != name("Font") {
			return fmt.Sprintf("the form's /DR gained /%s, which is no font", k)
		}
	}
	if k, ok := j.namesUsed(added); ok {
		return fmt.Sprintf("the form's /DR gained font /%s, a name the signed revision uses", k)
	}
	return ""
}

// namesUsed says whether the signed revision uses any of names: in a
// default appearance string (/DA) or as a name token in a stream. A
// stream it cannot read (a filter other than FlateDecode) counts as using
// them, but images, which hold no names.
func (j *judge) namesUsed(names []name) (name, bool) {
	if len(names) == 0 {
		return "", false
	}
	uses := func(b []byte) (name, bool) {
		for _, n := range names {
			tok := append([]byte{'/'}, n...)
			for rest := b; ; {
				i := bytes.Index(rest, tok)
				if i < 0 {
					break
				}
				rest = rest[i+len(tok):]
				if len(rest) == 0 || isDelimiterOrSpace(rest[0]) {
					return n, true
				}
			}
		}
		return "", false
	}
	nums := make([]int, 0, len(j.signed.xref))
	for num, e := range j.signed.xref {
		if e.kind != 0 {
			nums = append(nums, num)
		}
	}
	slices.Sort(nums)
	for _, num := range nums {
		o, err := j.signed.getObject(num)
		if err != nil {
			continue
		}
		var found name
		var hit bool
		eachDA(o, func(da []byte) {
			if !hit {
				found, hit = uses(da)
			}
		}, 0)
		if hit {
			return found, true
		}
		st, ok := o.(*stream)
		if !ok || isStructural(st) || st.dict.get("Subtype") == name("Image") {
			continue
		}
		data, err := j.signed.decode(st)
		if err != nil {
			return names[0], true
		}
		if n, ok := uses(data); ok {
			return n, true
		}
	}
	return "", false
}

// eachDA calls fn with every /DA string in o, a dictionary's at any depth.
func eachDA(o object, fn func([]byte), depth int) {
	if depth > maxDepth {
		return
	}
	switch v := o.(type) {
	case *dict:
		for k, e := range v.vals {
			if s, ok := e.(pdfStr); ok && k == "DA" {
				fn([]byte(s))
			}
			eachDA(e, fn, depth+1)
		}
	case array:
		for _, e := range v {
			eachDA(e, fn, depth+1)
		}
	case *stream:
		eachDA(v.dict, fn, depth+1)
	}
}

// isDelimiterOrSpace: what ends a name token (ISO 32000-1 §7.2.2).
func isDelimiterOrSpace(c byte) bool {
	return bytes.IndexByte([]byte("()<>[]{}/% \t\r\n\f\x00"), c) >= 0
}

// What drObjects finds an object of the signed revision to be.
const (
	drNone  = iota
	drDict  // the form's /DR, indirect
	drFonts // its /Font, indirect
)

// drObjects maps the form's /DR and its /Font, each when an indirect
// object nothing else refers to, to what they are: rewritten in place,
// they are judged as the form's default resources.
func (j *judge) drObjects() map[int]int {
	if j.drObjs != nil {
		return j.drObjs
	}
	j.drObjs = map[int]int{}
	_, cat, err := j.signed.catalog()
	if err != nil {
		return j.drObjs
	}
	form, _ := j.signed.resolveDict(cat.get("AcroForm"))
	uses := j.useCounts()
	if r, ok := form.get("DR").(ref); ok && uses[r.num] == 1 {
		j.drObjs[r.num] = drDict
	}
	dr, _ := j.signed.resolveDict(form.get("DR"))
	if r, ok := dr.get("Font").(ref); ok && uses[r.num] == 1 {
		j.drObjs[r.num] = drFonts
	}
	return j.drObjs
}
