package pades

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// What a permitted change draws over a signed page. ISO 32000-1
// §12.8.2.2.2 (Table 254; ISO 32000-2 §12.8.2.2.2, Table 257) permits,
// after a certification, signing (P 2 and 3) and creating, deleting and
// changing annotations (P 3); PAdES approval signatures follow one another
// the same way (ETSI EN 319 142-1 §5.4). Those changes keep the signature
// valid, but a widget or an annotation has an appearance (§12.5.5) that a
// reader draws over the page — the "sneaky signature" and "evil
// annotation" attacks paint new terms over the signed ones. What a reader
// shows is then not what was signed: a signature is validated over its
// signed data object (ETSI TS 119 102-1), here the signed revision, and
// attests nothing drawn over it later. So each such drawing is reported
// (SignatureReport.Overlays) with its page and place, and one whose author
// the verifier cannot hold to it — a signature that does not verify — is a
// change.

// annotsChange judges a page's /Annots, the page being object num: entries
// it lost and gained.
func (j *judge) annotsChange(num int, oldObj, newObj object) string {
	removed, added := arrayDiff(j.signed, j.doc, oldObj, newObj)
	for _, e := range removed {
		// P 3 permits deleting an annotation — not a form field's widget,
		// which is the form's (§12.7), nor a signature's.
		d, _ := j.signed.resolveDict(e)
		if j.p != 3 || !isAnnotation(d) {
			return "annotations were removed"
		}
		j.removed(j.pageNumbers()[num], d)
	}
	for _, e := range added {
		d, err := j.doc.resolveDict(e)
		if err != nil || d == nil {
			return "annotations: an unreadable entry was added"
		}
		if j.p == 3 && isAnnotation(d) {
			if a := scriptAction(j.doc, d); a != "" {
				return "an annotation was added with an action of type " + a
			}
			j.drawn(num, d, ref{}, false)
			continue
		}
		holder, c := addedSignature(j.signed, j.doc, e, "annotations", j.p == 1)
		if c != "" {
			return c
		}
		j.drawn(num, d, holder, true)
	}
	return ""
}

// annotationChanged judges, under P 3, an object of the signed revision
// changed later: an annotation of a signed page (not a widget) that stays
// one is a permitted change, if nothing but pages' /Annots and other
// annotations refers to it — an annotation dictionary that is also a page's
// font or resource dictionary is content.
func (j *judge) annotationChanged(num int, od, nd *dict) string {
	page, ok := j.annotations()[num]
	if !ok || !isAnnotation(od) || !isAnnotation(nd) {
		return "content changed"
	}
	if a := scriptAction(j.doc, nd); a != "" {
		return "an annotation was given an action of type " + a
	}
	j.removed(page, od)
	j.drawnOn(page, nd, ref{}, false)
	return ""
}

// removed records that d, an annotation of the signed revision on page,
// no longer draws as it did, if it drew.
func (j *judge) removed(page int, d *dict) {
	if rect, ok := visible(j.signed, d); ok {
		st, _ := d.get("Subtype").(name)
		j.overlays = append(j.overlays, overlay{Overlay: Overlay{Page: page, Rect: rect, Annotation: string(st), Removed: true}})
	}
}

// isAnnotation: d is an annotation dictionary (ISO 32000-1 §12.5.2) other
// than a widget.
func isAnnotation(d *dict) bool {
	st, ok := d.get("Subtype").(name)
	return d != nil && ok && st != "Widget" && (d.get("Type") == nil || d.get("Type") == name("Annot"))
}

// drawn records what d, an annotation added to page object num, draws,
// when it draws anything.
func (j *judge) drawn(num int, d *dict, sig ref, hasSig bool) {
	j.drawnOn(j.pageNumbers()[num], d, sig, hasSig)
}

func (j *judge) drawnOn(page int, d *dict, sig ref, hasSig bool) {
	rect, ok := visible(j.doc, d)
	if !ok {
		return
	}
	st, _ := d.get("Subtype").(name)
	j.overlays = append(j.overlays, overlay{Overlay: Overlay{Page: page, Rect: rect, Annotation: string(st)}, sig: sig, hasSig: hasSig})
}

// visible gives where d, an annotation of doc, draws, unless it draws
// nothing: a /Rect with no area, the Hidden flag, or NoView without Print
// or ToggleNoView (ISO 32000-1 §12.5.3, Table 165: NoView hides it on
// screen, not on paper, and ToggleNoView shows it under the pointer). A
// rectangle that cannot be read is taken as drawing, anywhere, and given
// with no area.
func visible(doc *document, d *dict) ([4]float64, bool) {
	var r [4]float64
	fo, _ := doc.resolve(d.get("F"))
	if n, ok := fo.(number); ok {
		const hidden, printed, noView, toggleNoView = 1 << 1, 1 << 2, 1 << 5, 1 << 8
		if f, ok := n.int(); ok && (f&hidden != 0 || f&noView != 0 && f&(printed|toggleNoView) == 0) {
			return r, false
		}
	}
	ro, _ := doc.resolve(d.get("Rect"))
	a, ok := ro.(array)
	if !ok || len(a) != 4 {
		return r, true
	}
	for i, e := range a {
		e, _ = doc.resolve(e)
		n, _ := e.(number)
		v, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return [4]float64{}, true
		}
		r[i] = v
	}
	// Any two opposite corners make the rectangle, which readers
	// normalise (ISO 32000-1 §7.9.5): so is it reported.
	r = [4]float64{min(r[0], r[2]), min(r[1], r[3]), max(r[0], r[2]), max(r[1], r[3])}
	return r, r[0] != r[2] && r[1] != r[3]
}

// pageNumbers maps each page object of the signed revision to its number.
func (j *judge) pageNumbers() map[int]int {
	if j.pages == nil {
		j.pages = map[int]int{}
		j.signed.eachPage(func(r ref, _ *dict) error {
			j.pages[r.num] = len(j.pages) + 1
			return nil
		})
	}
	return j.pages
}

// annotations maps the annotations of the signed revision's pages (not
// widgets), each an indirect object that nothing but pages' /Annots
// arrays and other annotations refers to, to their page number.
func (j *judge) annotations() map[int]int {
	if j.annots != nil {
		return j.annots
	}
	j.annots = map[int]int{}
	lists := map[int]bool{} // indirect /Annots arrays
	pages := j.pageNumbers()
	for num, page := range pages {
		pd, _ := j.signed.resolveDict(ref{num, 0})
		if r, ok := pd.get("Annots").(ref); ok {
			lists[r.num] = true
		}
		ao, _ := j.signed.resolve(pd.get("Annots"))
		arr, _ := ao.(array)
		for _, e := range arr {
			r, ok := e.(ref)
			if !ok {
				continue
			}
			if d, _ := j.signed.resolveDict(r); isAnnotation(d) {
				j.annots[r.num] = page
			}
		}
	}
	refs := map[int]bool{}
	addRefs(refs, j.signed.trailer, 0)
	for num, e := range j.signed.xref {
		if e.kind == 0 || lists[num] || j.annots[num] != 0 {
			continue
		}
		o, err := j.signed.getObject(num)
		if err != nil {
			continue
		}
		if d, ok := o.(*dict); ok && pages[num] != 0 {
			c := d.clone()
			c.set("Annots", nil)
			o = c
		}
		addRefs(refs, o, 0)
	}
	for num := range refs {
		delete(j.annots, num)
	}
	return j.annots
}

// settleOverlays names, for each report, the signature fields that draw
// over its pages, and makes a change of each whose signature does not
// verify: signing is the permitted change, and a signature that does not
// verify — or that the verifier does not trust — signed nothing it can
// hold anyone to. Later signatures are settled first, as an earlier one's
// verdict depends on theirs.
func settleOverlays(rep *Report, sigs []sigField, pending [][]overlay) {
	for i := len(rep.Signatures) - 1; i >= 0; i-- {
		r := &rep.Signatures[i]
		var changes []string
		for _, o := range pending[i] {
			if !o.hasSig {
				r.Overlays = append(r.Overlays, o.Overlay)
				continue
			}
			by := -1
			for k := range sigs {
				if sigs[k].holder == o.sig && k > i {
					by = k
				}
			}
			switch {
			case by < 0:
				changes = append(changes, fmt.Sprintf("a signature widget that holds no signature found draws over page %d", o.Page))
			case rep.Signatures[by].Err != nil:
				changes = append(changes, fmt.Sprintf("signature %q draws over page %d and does not verify: %v", rep.Signatures[by].Field, o.Page, rep.Signatures[by].Err))
			default:
				o.Field = rep.Signatures[by].Field
				r.Overlays = append(r.Overlays, o.Overlay)
			}
		}
		if len(changes) == 0 {
			continue
		}
		r.Changes = append(append([]string(nil), r.Changes...), changes...)
		r.ChangedAfterSigning = true
		if r.Err == nil {
			r.Err = fmt.Errorf("%w: %s", ErrChanged, strings.Join(changes, "; "))
		}
	}
}

// scriptAction names the first action of annotation or field d (its /A,
// its /AA triggers, and their /Next chains, ISO 32000-1 §12.6.2-§12.6.3)
// that is not navigation, "" when there is none. P 3 permits creating and
// changing annotations (Table 254), and any signature permits signing —
// not running what they carry: a JavaScript action (§12.6.4.16) can
// rewrite the page and the form when the page opens, a Launch action
// (§12.6.4.5) runs a program, and others hide fields, turn layers on or
// reset the form (§12.6.4.10, §12.6.4.12, §12.7.5.3). Navigation — going
// to a destination, a URI, a named page — changes nothing of the
// document.
func scriptAction(doc *document, d *dict) string {
	navigation := []name{"GoTo", "GoToR", "GoToE", "URI", "Named", "Thread"}
	var bad string
	seen := map[int]bool{}
	var walk func(o object, depth int)
	walk = func(o object, depth int) {
		if bad != "" || depth > maxDepth {
			return
		}
		if r, ok := o.(ref); ok {
			if seen[r.num] {
				return
			}
			seen[r.num] = true
		}
		o, _ = doc.resolve(o)
		switch v := o.(type) {
		case array:
			for _, e := range v {
				walk(e, depth+1)
			}
		case *dict:
			s, _ := v.get("S").(name)
			if !slices.Contains(navigation, s) {
				bad = "/" + string(s)
				return
			}
			walk(v.get("Next"), depth+1)
		}
	}
	if a := d.get("A"); a != nil {
		walk(a, 0)
	}
	aa, _ := doc.resolveDict(d.get("AA"))
	if aa != nil {
		for _, k := range aa.keys {
			walk(aa.get(k), 0)
		}
	}
	return bad
}
