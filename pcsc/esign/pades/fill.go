package pades

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
)

// Form filling after a signature. DocMDP permissions 2 and 3 permit
// "filling in forms" (ISO 32000-1 §12.8.2.2.2, Table 254; ISO 32000-2
// Table 257). A fill is a field of the signed revision taking another
// value (/V, and a choice field's /I, §12.7.4.4), its widgets another
// appearance (/AP, /AS, §12.5.5) and modification date (/M, Table 164) —
// or, for an empty signature field, being signed (its /V set to a new
// signature dictionary); the form's /DR may gain a font the new value is
// drawn with (defaultres.go). Anything beyond is a change: a new field
// (changes.go), a field's type, name, flags, rectangle or actions changed,
// a read-only field's value changed (Table 221: its user may not change
// it).
//
// An approval signature with no certification in force restricts no
// field but those its FieldMDP locks (ISO 32000-1 §12.8.2.4; ISO 32000-2
// Table 236 gives a signature field's lock its own /P for a signer who
// wants more): fills after it are permitted as at P 2, the set the package
// applies to approval signatures.
//
// A filled field's new appearance draws over the signed page — the shadow
// attacks fill a text field placed over the signed terms — so each
// visible widget of a filled field is reported as an overlay (overlay.go).
// A signature that locks fields (FieldMDP, ISO 32000-1 §12.8.2.4, its
// /Reference's /TransformParams copied from the field's /Lock, §12.7.4.5
// Table 233) is invalidated by a later change to any of them.

// fieldNode is an indirect node of the signed revision's field tree, or a
// widget of it (§12.7.3.1).
type fieldNode struct {
	name    string // fully qualified (§12.7.3.2)
	ft      object // field type, inherited (Table 220)
	ff      int64  // field flags, inherited
	widgets []int  // the widgets drawing this node and its descendants
	field   int    // the field this node is or, a widget alone, belongs to
}

// fieldLock is what a signature's FieldMDP locks (Table 256 /Action,
// /Fields), nil for nothing.
type fieldLock struct {
	all     bool // /Action /All
	exclude bool // /Action /Exclude: all fields but those named
	names   []string
	// reason, when set, is why the fields are locked if no signature's
	// FieldMDP locks them (the holder's check, holdercheck.go).
	reason string
}

// locked says whether the lock covers field name: a named field locks its
// descendants too, as their names are under its own (§12.7.3.2).
func (l *fieldLock) locked(field string) bool {
	if l == nil {
		return false
	}
	if l.all {
		return true
	}
	named := slices.ContainsFunc(l.names, func(n string) bool { return field == n || strings.HasPrefix(field, n+".") })
	return named != l.exclude
}

// fieldLocks reads what the FieldMDP transforms of sig, a signature
// dictionary, lock (ISO 32000-1 §12.8.2.4, Tables 253 and 256), and
// lock, the signature field's /Lock dictionary (§12.7.4.5, Table 233),
// whose entries the transform copies; nil when neither locks anything.
// p is the strictest /P either gives, 0 for none: ISO 32000-2 (Table 236)
// lets a signature field's lock carry DocMDP-like permissions that apply
// once it is signed, which narrow what the document's permit.
func (d *document) fieldLocks(sig *dict, lock object) (locks []*fieldLock, p int) {
	var params []*dict
	refs, _ := d.resolve(sig.get("Reference"))
	arr, _ := refs.(array)
	for _, e := range arr {
		sr, err := d.resolveDict(e)
		if err != nil || sr == nil || sr.get("TransformMethod") != name("FieldMDP") {
			continue
		}
		if tp, err := d.resolveDict(sr.get("TransformParams")); err == nil && tp != nil {
			params = append(params, tp)
		}
	}
	if ld, err := d.resolveDict(lock); err == nil && ld != nil {
		params = append(params, ld)
	}
	for _, tp := range params {
		po, _ := d.resolve(tp.get("P"))
		if n, ok := po.(number); ok {
			if v, ok := n.int(); ok && v >= 1 && v <= 3 && (p == 0 || int(v) < p) {
				p = int(v)
			}
		}
		l := &fieldLock{}
		switch tp.get("Action") {
		case name("All"):
			l.all = true
		case name("Include"):
		case name("Exclude"):
			l.exclude = true
		default:
			continue // no valid action locks nothing that can be named
		}
		fo, _ := d.resolve(tp.get("Fields"))
		fields, _ := fo.(array)
		for _, f := range fields {
			f, _ = d.resolve(f)
			if s, ok := f.(pdfStr); ok {
				l.names = append(l.names, text(s))
			}
		}
		locks = append(locks, l)
	}
	return locks, p
}

// formNodes maps the signed revision's indirect field-tree nodes and
// widgets to what they are; appearance objects a single widget's /AP
// holds (its dictionary, streams, state dictionaries) map to that widget
// in j.apOwners.
func (j *judge) formNodes() map[int]*fieldNode {
	if j.nodes != nil {
		return j.nodes
	}
	j.nodes, j.apOwners = map[int]*fieldNode{}, map[int]int{}
	_, cat, err := j.signed.catalog()
	if err != nil {
		return j.nodes
	}
	form, _ := j.signed.resolveDict(cat.get("AcroForm"))
	fo, _ := j.signed.resolve(form.get("Fields"))
	top, _ := fo.(array)
	seen := map[int]bool{}
	root := &fieldNode{}
	var walk func(list array, parent *fieldNode, depth int)
	walk = func(list array, parent *fieldNode, depth int) {
		if depth > maxDepth || len(seen) > 10000 {
			return
		}
		for _, e := range list {
			r, ok := e.(ref)
			if !ok || seen[r.num] {
				continue
			}
			seen[r.num] = true
			d, _ := j.signed.resolveDict(r)
			if d == nil {
				continue
			}
			n := &fieldNode{name: parent.name, ft: parent.ft, ff: parent.ff, field: r.num}
			if t, ok := d.get("T").(pdfStr); ok {
				if n.name != "" {
					n.name += "."
				}
				n.name += text(t)
			} else if parent != root && d.get("Subtype") == name("Widget") {
				// A widget of its parent field, not a field of its own
				// (§12.7.3.1): the parent holds the value.
				n.field = parent.field
			}
			if v := d.get("FT"); v != nil {
				n.ft = v
			}
			if v, _ := j.signed.resolve(d.get("Ff")); v != nil {
				if x, ok := v.(number); ok {
					n.ff, _ = x.int()
				}
			}
			if d.get("Subtype") == name("Widget") {
				n.widgets = append(n.widgets, r.num)
				j.appearanceObjects(r.num, d)
			}
			j.nodes[r.num] = n
			ko, _ := j.signed.resolve(d.get("Kids"))
			kids, _ := ko.(array)
			walk(kids, n, depth+1)
			// A value set on a field is inherited by the kids that set
			// none (Table 220, /V): each of their widgets may draw it.
			if parent != root {
				parent.widgets = append(parent.widgets, n.widgets...)
			}
		}
	}
	walk(top, root, 0)
	// Fields whose widgets only a page lists, as poppler's pdfsig writes
	// its signature field (signatures, verify.go).
	roots := map[ref]ref{}
	for num := range j.widgetPages() {
		if d, _ := j.signed.resolveDict(ref{num, 0}); d.get("Subtype") == name("Widget") && !seen[num] {
			if r, err := j.signed.rootField(ref{num, 0}, roots); err == nil {
				walk(array{r}, root, 0)
			}
		}
	}
	return j.nodes
}

// appearanceObjects records the indirect objects of widget w's /AP that
// nothing else refers to: rewritten in place, they are its appearance
// changed.
func (j *judge) appearanceObjects(w int, d *dict) {
	uses := j.useCounts()
	mine := func(o object) {
		if r, ok := o.(ref); ok && uses[r.num] == 1 {
			j.apOwners[r.num] = w
		}
	}
	mine(d.get("AP"))
	ap, _ := j.signed.resolveDict(d.get("AP"))
	if ap == nil {
		return
	}
	for _, k := range []name{"N", "R", "D"} {
		mine(ap.get(k))
		if states, _ := j.signed.resolve(ap.get(k)); states != nil {
			if sd, ok := states.(*dict); ok {
				for _, v := range sd.vals {
					mine(v)
				}
			}
		}
	}
}

// useCounts counts, for each object number, the references the signed
// revision's objects make to it.
func (j *judge) useCounts() map[int]int {
	if j.uses == nil {
		j.uses = map[int]int{}
		for num, e := range j.signed.xref {
			if e.kind == 0 {
				continue
			}
			if o, err := j.signed.getObject(num); err == nil {
				eachRef(o, func(r ref) { j.uses[r.num]++ }, 0)
			}
		}
	}
	return j.uses
}

// fieldChange judges object num of the signed revision, changed, when it
// is a node of the form's field tree or a widget's appearance: ok reports
// that it is, c what is not a permitted fill ("" when it is one).
func (j *judge) fieldChange(num int, oldObj, newObj object) (c string, ok bool) {
	nodes := j.formNodes()
	if w, isAP := j.apOwners[num]; isAP {
		n := nodes[w]
		if _, was := oldObj.(*stream); was != isStream(newObj) {
			return fmt.Sprintf("form field %q: its appearance is no longer of its kind", n.name), true
		}
		if n.ft == name("Sig") {
			// A signature field's appearance is its signer's: redrawn
			// only as it is signed (below).
			v, timestamp, signing := j.signing(n)
			if !signing {
				return fmt.Sprintf("signature field %q: its appearance changed, and it was not signed", n.name), true
			}
			if c := j.mayFill(n, timestamp); c != "" {
				return c, true
			}
			j.fillDraws([]int{w}, "", v, true)
			return "", true
		}
		if c := j.mayFill(n, false); c != "" {
			return c, true
		}
		j.fillDraws([]int{w}, n.name, ref{}, false)
		return "", true
	}
	n, isNode := nodes[num]
	if !isNode {
		return "", false
	}
	od, ok1 := oldObj.(*dict)
	nd, ok2 := newObj.(*dict)
	if !ok1 || !ok2 {
		return fmt.Sprintf("form field %q was replaced", n.name), true
	}
	if n.ft == name("Sig") {
		return j.fieldSigned(n, od, nd), true
	}
	if n.ft != name("Tx") && n.ft != name("Ch") && n.ft != name("Btn") {
		return fmt.Sprintf("form field %q, of no field type that is filled, changed", n.name), true
	}
	if k := differingKeys(od, nd, "V", "I", "AP", "AS", "M"); k != "" {
		return fmt.Sprintf("form field %q: its %s changed, which filling it does not", n.name, k), true
	}
	if c := j.mayFill(n, false); c != "" {
		return c, true
	}
	j.fillDraws(n.widgets, n.name, ref{}, false)
	return "", true
}

// fieldSigned judges a signature field of the signed revision changed: an
// empty one signed (its /V a new signature dictionary, its widget's
// appearance the signer's) is signing, the permitted change of Table 254;
// its widget is then an overlay whose signature must verify.
func (j *judge) fieldSigned(n *fieldNode, od, nd *dict) string {
	if k := differingKeys(od, nd, "V", "AP", "AS", "M"); k != "" {
		return fmt.Sprintf("signature field %q: its %s changed", n.name, k)
	}
	v, timestamp, signing := j.signing(n)
	switch {
	case od.get("V") != nil:
		return fmt.Sprintf("signature field %q: its signature was replaced or removed", n.name)
	case !signing:
		return fmt.Sprintf("signature field %q changed, and it was not signed", n.name)
	}
	if c := j.mayFill(n, timestamp); c != "" {
		return c
	}
	j.fillDraws(n.widgets, "", v, true)
	return ""
}

// signing says whether the signature field of node n, empty when signed,
// holds now a new signature dictionary, which, and whether that is a
// document timestamp's.
func (j *judge) signing(n *fieldNode) (v ref, timestamp, ok bool) {
	old, _ := j.signed.getObject(n.field)
	if od, _ := old.(*dict); od == nil || od.get("V") != nil {
		return ref{}, false, false
	}
	now, _ := j.doc.getObject(n.field)
	nd, _ := now.(*dict)
	v, ok = nd.get("V").(ref)
	if !ok || j.signed.has(v) {
		return ref{}, false, false
	}
	sd, _ := j.doc.resolveDict(v)
	timestamp = sd.get("Type") == name("DocTimeStamp") || sd.get("SubFilter") == name("ETSI.RFC3161")
	return v, timestamp, sd != nil
}

// mayFill says why field n may not be filled (or signed) under the
// judged signature, "" when it may. P 1 permits no fill, and no signing
// but a document timestamp's (changes.go).
func (j *judge) mayFill(n *fieldNode, timestamp bool) string {
	const readOnly = 1 // Table 221, bit 1
	switch {
	case j.p == 1 && !timestamp && n.ft == name("Sig"):
		return fmt.Sprintf("signature field %q was signed, which the DocMDP permissions in force (P 1) forbid", n.name)
	case j.p == 1 && !timestamp:
		return fmt.Sprintf("form field %q was filled, which the DocMDP permissions in force (P 1) forbid", n.name)
	case n.ff&readOnly != 0 && n.ft != name("Sig"):
		return fmt.Sprintf("read-only form field %q was changed", n.name)
	}
	for _, l := range j.locks {
		if l.locked(n.name) && l.reason != "" {
			return fmt.Sprintf("form field %q was changed: %s", n.name, l.reason)
		}
		if l.locked(n.name) {
			return fmt.Sprintf("form field %q, locked by the signature (FieldMDP), was changed", n.name)
		}
	}
	return ""
}

// fillDraws records, once each, what the widgets of a filled field draw
// now on the signed pages.
func (j *judge) fillDraws(widgets []int, field string, sig ref, hasSig bool) {
	if j.filled == nil {
		j.filled = map[int]bool{}
	}
	pages := j.widgetPages()
	for _, w := range widgets {
		if j.filled[w] || pages[w] == 0 {
			continue
		}
		j.filled[w] = true
		o, _ := j.doc.getObject(w)
		d, _ := o.(*dict)
		if d == nil {
			continue
		}
		before := len(j.overlays)
		j.drawnOn(pages[w], d, sig, hasSig)
		if len(j.overlays) > before && !hasSig {
			j.overlays[before].FormField = field
		}
	}
}

// widgetPages maps the widgets the signed revision's pages list in
// /Annots to their page number: a widget no page lists draws nowhere.
func (j *judge) widgetPages() map[int]int {
	if j.wpages == nil {
		j.wpages = map[int]int{}
		for num, page := range j.pageNumbers() {
			pd, _ := j.signed.resolveDict(ref{num, 0})
			ao, _ := j.signed.resolve(pd.get("Annots"))
			arr, _ := ao.(array)
			for _, e := range arr {
				if r, ok := e.(ref); ok && j.wpages[r.num] == 0 {
					j.wpages[r.num] = page
				}
			}
		}
	}
	return j.wpages
}

func isStream(o object) bool {
	_, ok := o.(*stream)
	return ok
}

// text decodes a text string (ISO 32000-1 §7.9.2.2; ISO 32000-2 adds
// UTF-8): a lock names a field in one encoding, the field may spell its
// name in another, and a lock compared byte for byte would miss it. Bytes
// of PDFDocEncoding are taken as Latin-1, which it matches for letters.
func text(s pdfStr) string {
	switch {
	case len(s) >= 2 && s[0] == 0xfe && s[1] == 0xff:
		u := make([]uint16, 0, len(s)/2)
		for i := 2; i+1 < len(s); i += 2 {
			u = append(u, uint16(s[i])<<8|uint16(s[i+1]))
		}
		return string(utf16.Decode(u))
	case strings.HasPrefix(string(s), "\xef\xbb\xbf"):
		return string(s[3:])
	}
	r := make([]rune, len(s))
	for i, b := range []byte(s) {
		r[i] = rune(b)
	}
	return string(r)
}
