package pades

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
)

// What later incremental updates changed. A signature covers the file up
// to the end of its revision; what comes after is judged object by object
// against the signed revision — every object either revision's
// cross-reference information lists. Allowed (ETSI EN 319 142-1 §5.4 and
// ISO 32000-2 §12.8.2.2.2's "permitted changes" for signatures and form
// fields, the DocMDP P=2 set): the catalog gaining or changing /DSS and
// /AcroForm, the form's /Fields growing by signature fields, its
// /SigFlags, and its /DR gaining the fonts a fill draws with
// (defaultres.go), a page's /Annots growing by signature widgets (each holding a
// signature), fields of the signed revision filled or signed (fill.go),
// the document information dictionary when nothing else refers to it, new
// objects (reached only through those), and new cross-reference and object
// streams. Anything else — a changed page,
// content stream, resource, a deleted or unlisted object, an added
// annotation that is not a signature's, an empty signature field — is a
// change. What the allowed changes draw over a signed page is reported
// apart (overlay.go).
//
// The DocMDP permissions of a certification (ISO 32000-1 §12.8.2.2.2,
// Table 254) are the document's: they judge the certification and the
// approval signatures after it. P 1 ("No changes to the document shall be
// permitted; any change to the document shall invalidate the signature")
// narrows the set to what long-term validation adds after any signature
// (ETSI EN 319 142-1 §5.4): the /DSS and document timestamps; a later
// signature, a fill, or a changed information dictionary, is then a
// change. P 3 widens it to creating, deleting and changing annotations
// (carrying no script, overlay.go). A signature's FieldMDP locks narrow it
// for the fields they name (fill.go).

// judgement is what changesAfter found: the changes, and what permitted
// changes draw over the signed pages.
type judgement struct {
	changes  []string
	overlays []overlay
}

// overlay is an Overlay with, for a signature's widget, the object that
// holds its signature dictionary (sigField.holder), so that Verify can
// name the field and require that its signature verifies.
type overlay struct {
	Overlay
	sig    ref
	hasSig bool
}

// changesAfter judges the updates after signed, the revision a signature
// covers, under the DocMDP permissions p in force (0: none) and the
// FieldMDP locks of the signature.
func changesAfter(doc, signed *document, p int, locks []*fieldLock) judgement {
	var j judgement
	noChanges := p == 1
	rootRef, _ := doc.trailer.get("Root").(ref)
	// The information dictionary that may change is the one the signed
	// revision named, not whatever the last trailer — written after the
	// signature, by anyone — calls /Info: naming a page's content stream
	// there would exempt its replacement. It is a dictionary (ISO 32000-1
	// §14.3.3), so a stream under that name is judged as content; and it
	// is metadata only when no object of the signed revision refers to it
	// — a document prepared for a shadow attack names its page, a font or
	// a resource dictionary as /Info, to change it "as metadata" later.
	infoRef, hasInfo := signed.trailer.get("Info").(ref)
	if sr, _ := signed.trailer.get("Root").(ref); sr != rootRef {
		j.changes = []string{"the document catalog was replaced"}
		return j
	}
	jd := &judge{signed: signed, doc: doc, p: p, locks: locks}
	// Every object of either revision: one the signed revision defined and
	// the last cross-reference information no longer lists is gone as
	// surely as one freed (ISO 32000-1 §7.3.10: null), though no free
	// entry says so — and a reader that rebuilds the table by scanning the
	// file still finds it, so what the page shows depends on the reader.
	nums := make([]int, 0, len(doc.xref))
	for n := range doc.xref {
		nums = append(nums, n)
	}
	for n := range signed.xref {
		if _, ok := doc.xref[n]; !ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	var referenced map[int]bool // numbers the signed revision refers to
	var store map[int]bool      // the signed revision's DSS objects
	var refs map[ref]bool       // references, with generations, of the document now
	for _, num := range nums {
		fe, listed := doc.xref[num]
		se, existed := signed.xref[num]
		if !listed {
			if se.kind != 0 {
				j.changes = append(j.changes, fmt.Sprintf("object %d is no longer in the cross-reference information", num))
			}
			continue
		}
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
				j.changes = append(j.changes, fmt.Sprintf("object %d, referred to but missing when signed, was defined after", num))
			}
			continue
		}
		if fe.kind != 0 && generation(fe) != generation(se) {
			// A number reused under a new generation is a new object: the
			// old one is gone (ISO 32000-1 §7.5.4), as pdfsig does with
			// a widget's appearance it redraws. A reference still naming
			// the old generation names no object, and a reader that
			// checks generations reads null (§7.3.10; poppler draws a
			// page whose content is renamed so blank), whatever a reader
			// that ignores them — as this package does — finds.
			if refs == nil {
				refs = doc.genRefs()
			}
			if refs[ref{num, generation(se)}] {
				j.changes = append(j.changes, fmt.Sprintf("object %d now has generation %d, and references to generation %d name no object", num, generation(fe), generation(se)))
				continue
			}
		}
		if fe == se && fe.kind == 1 {
			continue
		}
		if fe.kind == 0 {
			j.changes = append(j.changes, fmt.Sprintf("object %d was deleted", num))
			continue
		}
		oldObj, err1 := signed.getObject(num)
		newObj, err2 := doc.getObject(num)
		if err1 != nil || err2 != nil {
			j.changes = append(j.changes, fmt.Sprintf("object %d cannot be read", num))
			continue
		}
		if bytes.Equal(serialize(oldObj), serialize(newObj)) {
			continue
		}
		// Cross-reference and object streams are structure, rewritten as
		// writers please — unless a signed object refers to one: a page
		// can name a stream typed /ObjStm as its content (ISO 32000-1
		// §7.8.2 reads any stream's data as operators), and its later
		// replacement draws on the page.
		if isStructural(oldObj) && !jd.objectRefs()[num] {
			continue
		}
		if hasInfo && num == infoRef.num && isDict(oldObj) && isDict(newObj) && !noChanges && !jd.objectRefs()[num] {
			continue
		}
		if c := jd.allowedChange(num, num == rootRef.num, oldObj, newObj); c != "" {
			// The signed revision's document security store rewritten in
			// place, as signers that keep one store extend it, is
			// validation data too.
			if store == nil {
				store = signed.dssObjects()
			}
			if store[num] {
				continue
			}
			j.changes = append(j.changes, fmt.Sprintf("object %d: %s", num, c))
		}
	}
	j.overlays = jd.overlays
	return j
}

// generation is an entry's generation number: 0 in an object stream
// (ISO 32000-1 §7.5.7).
func generation(e xrefEntry) int {
	if e.kind == 2 {
		return 0
	}
	return e.gen
}

// genRefs collects the references, with their generation numbers, that
// the document's objects and its trailer make.
func (d *document) genRefs() map[ref]bool {
	refs := map[ref]bool{}
	add := func(r ref) { refs[r] = true }
	eachRef(d.trailer, add, 0)
	for num, e := range d.xref {
		if e.kind == 0 {
			continue
		}
		if o, err := d.getObject(num); err == nil {
			eachRef(o, add, 0)
		}
	}
	return refs
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

// eachRef calls fn with each reference o makes, directly (in its arrays,
// dictionaries and stream dictionary, down to maxDepth; none followed).
func eachRef(o object, fn func(r ref), depth int) {
	if depth > maxDepth {
		return
	}
	switch v := o.(type) {
	case ref:
		fn(v)
	case array:
		for _, e := range v {
			eachRef(e, fn, depth+1)
		}
	case *dict:
		for _, e := range v.vals {
			eachRef(e, fn, depth+1)
		}
	case *stream:
		eachRef(v.dict, fn, depth+1)
	}
}

// addRefs adds to refs the object numbers o refers to, directly.
func addRefs(refs map[int]bool, o object, depth int) {
	eachRef(o, func(r ref) { refs[r.num] = true }, depth)
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

// judge holds what judging one signature's later changes needs.
type judge struct {
	signed, doc *document
	p           int // DocMDP permissions in force, 0 for none
	overlays    []overlay
	pages       map[int]int // page object number → page number, of the signed revision
	annots      map[int]int // see annotations
	refs        map[int]bool
	owners      map[int]int // see arrayOwners
	uses        map[int]int // see useCounts
	locks       []*fieldLock
	nodes       map[int]*fieldNode // see formNodes
	apOwners    map[int]int
	filled      map[int]bool // widgets reported filled
	wpages      map[int]int  // see widgetPages
	drObjs      map[int]int  // see drObjects
}

// arrayOwners maps the signed revision's indirect arrays that are a page's
// /Annots to that page's object number, and the form's /Fields to 0 —
// each only if nothing else refers to it: an array that is also a page's
// /Contents, say, is content.
func (j *judge) arrayOwners() map[int]int {
	if j.owners != nil {
		return j.owners
	}
	j.owners = map[int]int{}
	uses := j.useCounts()
	defer func() {
		for num := range j.owners {
			if uses[num] != 1 {
				delete(j.owners, num)
			}
		}
	}()
	for num := range j.pageNumbers() {
		if pd, _ := j.signed.resolveDict(ref{num, 0}); pd != nil {
			if r, ok := pd.get("Annots").(ref); ok {
				j.owners[r.num] = num
			}
		}
	}
	if _, cat, err := j.signed.catalog(); err == nil {
		if form, _ := j.signed.resolveDict(cat.get("AcroForm")); form != nil {
			if r, ok := form.get("Fields").(ref); ok {
				j.owners[r.num] = 0
			}
		}
	}
	return j.owners
}

// objectRefs are the numbers the signed revision's objects refer to —
// not its trailer, nor its object streams (/Extends) — computed once.
func (j *judge) objectRefs() map[int]bool {
	if j.refs == nil {
		j.refs = map[int]bool{}
		for num, e := range j.signed.xref {
			if e.kind == 0 {
				continue
			}
			if o, err := j.signed.getObject(num); err == nil && !isStructural(o) {
				addRefs(j.refs, o, 0)
			}
		}
	}
	return j.refs
}

// allowedChange returns "" when old → new, object num, is a permitted
// change, else what changed.
func (j *judge) allowedChange(num int, isCatalog bool, oldObj, newObj object) string {
	signed, doc, noChanges := j.signed, j.doc, j.p == 1
	// A page's /Annots or the form's /Fields kept in an indirect array,
	// rewritten in place, is judged as when written anew.
	if owner, ok := j.arrayOwners()[num]; ok {
		if _, isArray := newObj.(array); isArray {
			if owner != 0 {
				return j.annotsChange(owner, oldObj, newObj)
			}
			return grownBySignatures(signed, doc, oldObj, newObj, "form fields", noChanges)
		}
	}
	if c, ok := j.fieldChange(num, oldObj, newObj); ok {
		return c
	}
	switch j.drObjects()[num] {
	case drDict:
		return j.drChange(oldObj, newObj)
	case drFonts:
		return j.fontsAdded(oldObj, newObj)
	}
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
			return j.formChange(oldForm, newForm)
		}
		if oldForm != nil && newForm == nil {
			return "the form was removed"
		}
		return ""
	case nd.get("Fields") != nil || nd.get("SigFlags") != nil:
		return j.formChange(od, nd)
	case nd.get("Type") == name("Page"):
		if k := differingKeys(od, nd, "Annots"); k != "" {
			return "the page's " + k + " changed"
		}
		return j.annotsChange(num, od.get("Annots"), nd.get("Annots"))
	case j.p == 3:
		return j.annotationChanged(num, od, nd)
	}
	return "content changed"
}

// formChange judges the interactive form dictionary, od in the signed
// revision and nd now: its /Fields may grow by signatures, its /SigFlags
// change, its /DR gain the fonts a fill draws with (defaultres.go).
func (j *judge) formChange(od, nd *dict) string {
	if od == nil {
		od = newDict()
	}
	if k := differingKeys(od, nd, "Fields", "SigFlags", "DR"); k != "" {
		return "the form's " + k + " changed"
	}
	if !bytes.Equal(serialize(od.get("DR")), serialize(nd.get("DR"))) {
		if c := j.drChange(od.get("DR"), nd.get("DR")); c != "" {
			return c
		}
	}
	return grownBySignatures(j.signed, j.doc, od.get("Fields"), nd.get("Fields"), "form fields", j.p == 1)
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

// arrayDiff resolves the old and new arrays and returns the entries the
// new one lost and those it gained. Each entry is serialized once and
// looked up: comparing every entry with every other made a page of ten
// thousand annotations (a hundred kilobytes of references) cost a minute.
func arrayDiff(signed, doc *document, oldObj, newObj object) (removed, added array) {
	o, _ := signed.resolve(oldObj)
	oldArr, _ := o.(array)
	n, _ := doc.resolve(newObj)
	newArr, _ := n.(array)
	in := func(arr array) map[string]bool {
		m := make(map[string]bool, len(arr))
		for _, e := range arr {
			m[string(serialize(e))] = true
		}
		return m
	}
	oldSet, newSet := in(oldArr), in(newArr)
	for _, e := range oldArr {
		if !newSet[string(serialize(e))] {
			removed = append(removed, e)
		}
	}
	for _, e := range newArr {
		if !oldSet[string(serialize(e))] {
			added = append(added, e)
		}
	}
	return removed, added
}

// grownBySignatures: the new array keeps the old one's entries, and what it
// adds are signature fields or their widgets — with noChanges, those of
// document timestamps only.
func grownBySignatures(signed, doc *document, oldObj, newObj object, what string, noChanges bool) string {
	removed, added := arrayDiff(signed, doc, oldObj, newObj)
	if len(removed) > 0 {
		return what + " were removed"
	}
	for _, e := range added {
		if _, c := addedSignature(signed, doc, e, what, noChanges); c != "" {
			return c
		}
	}
	return ""
}

// addedSignature judges e, an entry added to the form's /Fields or to a
// page's /Annots: "" when it is a new signature field, or its widget,
// holding a new signature, and then the object that holds the signature
// dictionary; else what it is.
func addedSignature(signed, doc *document, e object, what string, noChanges bool) (ref, string) {
	d, err := doc.resolveDict(e)
	if err != nil || d == nil {
		return ref{}, what + ": an unreadable entry was added"
	}
	// A widget added to a field of the signed revision (or below one)
	// borrows what that field holds: it is not a new signature, and
	// the signature list, which walks fields from the top, would not
	// show it.
	for a, depth := d.get("Parent"), 0; a != nil && depth < maxDepth; depth++ {
		if r, ok := a.(ref); ok && signed.has(r) {
			return ref{}, what + ": a widget was added to a field of the signed revision"
		}
		ad, _ := doc.resolveDict(a)
		if ad == nil {
			break
		}
		a = ad.get("Parent")
	}
	holder, _ := e.(ref)
	ft, v := d.get("FT"), d.get("V")
	if p, _ := doc.resolveDict(d.get("Parent")); p != nil {
		if ft == nil {
			ft = p.get("FT")
		}
		if v == nil {
			v = p.get("V")
			holder, _ = d.get("Parent").(ref)
		}
	}
	if ft != name("Sig") {
		return ref{}, what + ": an entry that is not a signature was added"
	}
	if a := scriptAction(doc, d); a != "" {
		return ref{}, what + ": a signature field was added with an action of type " + a
	}
	if r, ok := v.(ref); ok {
		if signed.has(r) {
			return ref{}, what + ": a signature field holding an earlier signature was added"
		}
		holder = r
	}
	// Signing is the permitted change (ISO 32000-1 §12.8.2.2.2, Table
	// 254): a signature field added empty, with no signature value,
	// signs nothing, and its widget's appearance can draw anything
	// over the signed page.
	sd, _ := doc.resolveDict(v)
	if sd == nil {
		return ref{}, what + ": a signature field without a signature was added"
	}
	if noChanges {
		if sd.get("Type") != name("DocTimeStamp") && sd.get("SubFilter") != name("ETSI.RFC3161") {
			return ref{}, what + ": a signature was added, which the DocMDP permissions in force (P 1) forbid"
		}
	}
	return holder, ""
}

// has says whether the document defines object r.
func (d *document) has(r ref) bool {
	e, ok := d.xref[r.num]
	return ok && e.kind != 0
}

// docMDP returns the DocMDP permissions (ISO 32000-1 §12.8.2.2, Tables
// 252-254: a /Reference entry whose /TransformMethod is /DocMDP, its
// /TransformParams /P, 2 by default) that sig, a signature dictionary,
// certifies the document with; 0 when it is no certification.
func (d *document) docMDP(sig *dict) int {
	refs, _ := d.resolve(sig.get("Reference"))
	arr, _ := refs.(array)
	for _, e := range arr {
		sr, err := d.resolveDict(e)
		if err != nil || sr == nil || sr.get("TransformMethod") != name("DocMDP") {
			continue
		}
		p := 2
		if tp, err := d.resolveDict(sr.get("TransformParams")); err == nil && tp != nil {
			po, _ := d.resolve(tp.get("P"))
			if n, ok := po.(number); ok {
				if v, ok := n.int(); ok && v >= 1 && v <= 3 {
					p = int(v)
				}
			}
		}
		return p
	}
	return 0
}

// permissions are the DocMDP permissions in force for a signature whose
// dictionary is sig and whose signed revision is d: its own when it
// certifies, else those of the certification the revision's catalog names
// (/Perms /DocMDP, ISO 32000-1 §12.8.4): they are the document's.
func (d *document) permissions(sig *dict) int {
	if p := d.docMDP(sig); p != 0 {
		return p
	}
	_, cat, err := d.catalog()
	if err != nil {
		return 0
	}
	perms, _ := d.resolveDict(cat.get("Perms"))
	cert, _ := d.resolveDict(perms.get("DocMDP"))
	if cert == nil {
		return 0
	}
	return d.docMDP(cert)
}

// references collects the object numbers every object of the document
// refers to, and its trailer.
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

// endsAsUpdate says what is wrong, if anything, with how the file goes on
// after end, where a signed revision ends: only whitespace, or updates of
// which the last ends the file as ISO 32000-1 §7.5.5 has it — startxref,
// the offset of a cross-reference section written after end, %%EOF —
// each appended as §7.5.6 says. Objects appended with no section, or
// after the last %%EOF, are read by no table; a reader that cannot find
// the last startxref where it looks rebuilds the table by scanning the
// file, and then the last object of a number wins: qpdf shows them.
func endsAsUpdate(doc *document, end int64) string {
	tail := bytes.TrimRight(doc.data[end:], "\x00\t\n\f\r ")
	if len(tail) == 0 {
		return ""
	}
	const bad = "the bytes after the signed revision do not end with an update's startxref and %%EOF"
	rest, ok := bytes.CutSuffix(tail, []byte("%%EOF"))
	i := bytes.LastIndex(rest, []byte("startxref"))
	if !ok || i < 0 {
		return bad
	}
	off, err := strconv.ParseInt(string(bytes.TrimSpace(rest[i+len("startxref"):])), 10, 64)
	if err != nil || off != doc.lastXref {
		return bad
	}
	if off < end {
		return "bytes were appended after the signed revision with no cross-reference section"
	}
	// MuPDF looks for startxref in the last 1024 bytes, and rebuilds the
	// table by scanning when it is not there.
	if int64(len(doc.data))-(int64(len(doc.data)-len(doc.data[end:]))+int64(i)) > 1024 {
		return "the file goes on for over 1024 bytes after its last startxref, where readers do not look for it"
	}
	if c := strayTrailer(doc, end); c != "" {
		return c
	}
	return scanDisagrees(doc, end)
}

// strayTrailer finds, after end, a "trailer" keyword that is not the
// trailer of a cross-reference table read: a reader rebuilding the table
// by scanning takes the trailers it finds (MuPDF the last), and one
// written where no table reader looks names the catalog of another
// document.
func strayTrailer(doc *document, end int64) string {
	read := map[int64]bool{}
	for _, off := range doc.sections {
		l := &lexer{buf: doc.data, pos: int(off)}
		if l.keyword() != "xref" {
			continue
		}
		for l.pos < len(doc.data) {
			l.skipSpace()
			at := l.pos
			k := l.keyword()
			if k == "trailer" {
				read[int64(at)] = true
				break
			}
			if k == "" {
				break
			}
		}
	}
	tail := doc.data[end:]
	for i := 0; ; {
		k := bytes.Index(tail[i:], []byte("trailer"))
		if k < 0 {
			return ""
		}
		if !read[end+int64(i+k)] {
			return fmt.Sprintf("a trailer at byte %d is no cross-reference table's: a reader rebuilding the table takes it", end+int64(i+k))
		}
		i += k + len("trailer")
	}
}
