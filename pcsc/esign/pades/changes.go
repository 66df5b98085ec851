package pades

import (
	"bytes"
	"fmt"
	"slices"
)

// What later incremental updates changed. A signature covers the file up
// to the end of its revision; what comes after is judged object by object
// against the signed revision. Allowed (ETSI EN 319 142-1 §5.4 and ISO
// 32000-2 §12.8.2.2.2's "permitted changes" for signatures and form
// fields, the DocMDP P=2 set less form filling): the catalog gaining or
// changing /DSS and /AcroForm, the form's /Fields growing by signature
// fields and its /SigFlags, a page's /Annots growing by signature widgets
// (each holding a signature), the document information dictionary, new
// objects (reached only through those), and new cross-reference and object
// streams. Anything else — a changed page, content stream, resource, a
// deleted object, an added annotation that is not a signature's, an empty
// signature field — is a change.
//
// A certification signature with DocMDP permissions 1 (ISO 32000-1
// §12.8.2.2.2, Table 254: "No changes to the document shall be permitted;
// any change to the document shall invalidate the signature") narrows that
// set to what long-term validation adds after any signature (ETSI EN 319
// 142-1 §5.4): the /DSS and document timestamps. A later signature, or a
// changed information dictionary, is then a change (noChanges).

func changesAfter(doc *document, end int64, noChanges bool) ([]string, error) {
	signed, err := parseDocument(doc.data[:end])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errChangeUnreadable, err)
	}
	rootRef, _ := doc.trailer.get("Root").(ref)
	// The information dictionary that may change is the one the signed
	// revision named, not whatever the last trailer — written after the
	// signature, by anyone — calls /Info: naming a page's content stream
	// there would exempt its replacement. It is a dictionary (ISO 32000-1
	// §14.3.3), so a stream under that name is judged as content.
	infoRef, hasInfo := signed.trailer.get("Info").(ref)
	if sr, _ := signed.trailer.get("Root").(ref); sr != rootRef {
		return []string{"the document catalog was replaced"}, nil
	}
	var changes []string
	nums := make([]int, 0, len(doc.xref))
	for n := range doc.xref {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	var referenced map[int]bool // numbers the signed revision refers to
	var store map[int]bool      // the signed revision's DSS objects
	for _, num := range nums {
		fe := doc.xref[num]
		se, existed := signed.xref[num]
		if !existed || se.kind == 0 {
			// A new object counts only through what refers to it — unless
			// the signed revision already referred to its number, then
			// null (ISO 32000-1 §7.3.10): defining it later changes what
			// the signed objects say without touching them.
			if fe.kind == 0 {
				continue
			}
			if referenced == nil {
				referenced = signed.references()
			}
			if referenced[num] {
				changes = append(changes, fmt.Sprintf("object %d, referred to but missing when signed, was defined after", num))
			}
			continue
		}
		if fe == se && fe.kind == 1 {
			continue
		}
		if fe.kind == 0 {
			changes = append(changes, fmt.Sprintf("object %d was deleted", num))
			continue
		}
		oldObj, err1 := signed.getObject(num)
		newObj, err2 := doc.getObject(num)
		if err1 != nil || err2 != nil {
			changes = append(changes, fmt.Sprintf("object %d cannot be read", num))
			continue
		}
		if bytes.Equal(serialize(oldObj), serialize(newObj)) || isStructural(oldObj) {
			continue
		}
		if hasInfo && num == infoRef.num && isDict(oldObj) && isDict(newObj) && !noChanges {
			continue
		}
		if c := allowedChange(signed, doc, num == rootRef.num, oldObj, newObj, noChanges); c != "" {
			// The signed revision's document security store rewritten in
			// place, as signers that keep one store extend it, is
			// validation data too.
			if store == nil {
				store = signed.dssObjects()
			}
			if store[num] {
				continue
			}
			changes = append(changes, fmt.Sprintf("object %d: %s", num, c))
		}
	}
	return changes, nil
}

// dssObjects lists the objects the document security store is made of —
// the /DSS dictionary, its arrays, /VRI and its entries, the streams they
// hold — reached from the catalog's /DSS, less those that anything else in
// the document refers to: such an object is content as well.
func (d *document) dssObjects() map[int]bool {
	in := map[int]bool{}
	catRef, cat, err := d.catalog()
	if err != nil {
		return in
	}
	var walk func(o object, depth int)
	walk = func(o object, depth int) {
		if depth > maxDepth {
			return
		}
		switch v := o.(type) {
		case ref:
			if in[v.num] || v.num == catRef.num {
				return
			}
			in[v.num] = true
			if obj, err := d.getObject(v.num); err == nil {
				walk(obj, depth+1)
			}
		case array:
			for _, e := range v {
				walk(e, depth+1)
			}
		case *dict:
			for _, e := range v.vals {
				walk(e, depth+1)
			}
		case *stream:
			walk(v.dict, depth+1)
		}
	}
	walk(cat.get("DSS"), 0)
	if len(in) == 0 {
		return in
	}
	refs := map[int]bool{}
	addRefs(refs, d.trailer, 0)
	c := cat.clone()
	c.set("DSS", nil)
	addRefs(refs, c, 0)
	for num, e := range d.xref {
		if e.kind == 0 || in[num] || num == catRef.num {
			continue
		}
		if o, err := d.getObject(num); err == nil {
			addRefs(refs, o, 0)
		}
	}
	for num := range refs {
		delete(in, num)
	}
	return in
}

// addRefs adds to refs the object numbers o refers to, directly.
func addRefs(refs map[int]bool, o object, depth int) {
	if depth > maxDepth {
		return
	}
	switch v := o.(type) {
	case ref:
		refs[v.num] = true
	case array:
		for _, e := range v {
			addRefs(refs, e, depth+1)
		}
	case *dict:
		for _, e := range v.vals {
			addRefs(refs, e, depth+1)
		}
	case *stream:
		addRefs(refs, v.dict, depth+1)
	}
}

func isDict(o object) bool {
	_, ok := o.(*dict)
	return ok
}

// isStructural: cross-reference and object streams hold no content of
// their own.
func isStructural(o object) bool {
	st, ok := o.(*stream)
	return ok && (st.dict.get("Type") == name("XRef") || st.dict.get("Type") == name("ObjStm"))
}

// allowedChange returns "" when old → new is a permitted change, else what
// changed.
func allowedChange(signed, doc *document, isCatalog bool, oldObj, newObj object, noChanges bool) string {
	od, ok1 := oldObj.(*dict)
	nd, ok2 := newObj.(*dict)
	if !ok1 || !ok2 {
		return "content changed"
	}
	switch {
	case isCatalog:
		if k := differingKeys(od, nd, "DSS", "AcroForm"); k != "" {
			return "the catalog's " + k + " changed"
		}
		oldForm, _ := signed.resolveDict(od.get("AcroForm"))
		newForm, _ := doc.resolveDict(nd.get("AcroForm"))
		if newForm != nil && (oldForm == nil || !bytes.Equal(serialize(oldForm), serialize(newForm))) {
			return formChange(signed, doc, oldForm, newForm, noChanges)
		}
		if oldForm != nil && newForm == nil {
			return "the form was removed"
		}
		return ""
	case nd.get("Fields") != nil || nd.get("SigFlags") != nil:
		return formChange(signed, doc, od, nd, noChanges)
	case nd.get("Type") == name("Page"):
		if k := differingKeys(od, nd, "Annots"); k != "" {
			return "the page's " + k + " changed"
		}
		return grownBySignatures(signed, doc, od.get("Annots"), nd.get("Annots"), "annotations", noChanges)
	}
	return "content changed"
}

func formChange(signed, doc *document, od, nd *dict, noChanges bool) string {
	if od == nil {
		od = newDict()
	}
	if k := differingKeys(od, nd, "Fields", "SigFlags"); k != "" {
		return "the form's " + k + " changed"
	}
	return grownBySignatures(signed, doc, od.get("Fields"), nd.get("Fields"), "form fields", noChanges)
}

// differingKeys names a key, other than those allowed, whose value differs.
func differingKeys(a, b *dict, allowed ...name) string {
	keys := append(append([]name{}, a.keys...), b.keys...)
	for _, k := range keys {
		if slices.Contains(allowed, k) {
			continue
		}
		if !bytes.Equal(serialize(a.get(k)), serialize(b.get(k))) {
			return "/" + string(k)
		}
	}
	return ""
}

// grownBySignatures: the new array keeps the old one's entries, and what it
// adds are signature fields or their widgets — with noChanges, those of
// document timestamps only.
func grownBySignatures(signed, doc *document, oldObj, newObj object, what string, noChanges bool) string {
	o, _ := signed.resolve(oldObj)
	oldArr, _ := o.(array)
	n, _ := doc.resolve(newObj)
	newArr, _ := n.(array)
	for _, e := range oldArr {
		if !slices.ContainsFunc(newArr, func(x object) bool { return bytes.Equal(serialize(x), serialize(e)) }) {
			return what + " were removed"
		}
	}
	for _, e := range newArr {
		if slices.ContainsFunc(oldArr, func(x object) bool { return bytes.Equal(serialize(x), serialize(e)) }) {
			continue
		}
		d, err := doc.resolveDict(e)
		if err != nil || d == nil {
			return what + ": an unreadable entry was added"
		}
		// A widget added to a field of the signed revision (or below one)
		// borrows what that field holds: it is not a new signature, and
		// the signature list, which walks fields from the top, would not
		// show it.
		for a, depth := d.get("Parent"), 0; a != nil && depth < maxDepth; depth++ {
			if r, ok := a.(ref); ok && signed.has(r) {
				return what + ": a widget was added to a field of the signed revision"
			}
			ad, _ := doc.resolveDict(a)
			if ad == nil {
				break
			}
			a = ad.get("Parent")
		}
		ft, v := d.get("FT"), d.get("V")
		if p, _ := doc.resolveDict(d.get("Parent")); p != nil {
			if ft == nil {
				ft = p.get("FT")
			}
			if v == nil {
				v = p.get("V")
			}
		}
		if ft != name("Sig") {
			return what + ": an entry that is not a signature was added"
		}
		if r, ok := v.(ref); ok && signed.has(r) {
			return what + ": a signature field holding an earlier signature was added"
		}
		// Signing is the permitted change (ISO 32000-1 §12.8.2.2.2, Table
		// 254): a signature field added empty, with no signature value,
		// signs nothing, and its widget's appearance can draw anything
		// over the signed page.
		sd, _ := doc.resolveDict(v)
		if sd == nil {
			return what + ": a signature field without a signature was added"
		}
		if noChanges {
			if sd.get("Type") != name("DocTimeStamp") && sd.get("SubFilter") != name("ETSI.RFC3161") {
				return what + ": a signature was added, which the certification's DocMDP permissions (P 1) forbid"
			}
		}
	}
	return ""
}

// has says whether the document defines object r.
func (d *document) has(r ref) bool {
	e, ok := d.xref[r.num]
	return ok && e.kind != 0
}

// docMDPNoChanges says whether sig, a signature dictionary, certifies the
// document with DocMDP permissions 1: a /Reference entry whose
// /TransformMethod is /DocMDP and whose /TransformParams /P is 1 (ISO
// 32000-1 §12.8.2.2, Tables 252-254; P defaults to 2).
func (d *document) docMDPNoChanges(sig *dict) bool {
	refs, _ := d.resolve(sig.get("Reference"))
	arr, _ := refs.(array)
	for _, e := range arr {
		sr, err := d.resolveDict(e)
		if err != nil || sr == nil || sr.get("TransformMethod") != name("DocMDP") {
			continue
		}
		tp, err := d.resolveDict(sr.get("TransformParams"))
		if err != nil || tp == nil {
			continue
		}
		po, _ := d.resolve(tp.get("P"))
		if n, ok := po.(number); ok {
			if p, ok := n.int(); ok && p == 1 {
				return true
			}
		}
	}
	return false
}

// references collects the object numbers every object of the document
// refers to.
func (d *document) references() map[int]bool {
	refs := map[int]bool{}
	addRefs(refs, d.trailer, 0)
	for num, e := range d.xref {
		if e.kind == 0 {
			continue
		}
		if o, err := d.getObject(num); err == nil {
			addRefs(refs, o, 0)
		}
	}
	return refs
}
