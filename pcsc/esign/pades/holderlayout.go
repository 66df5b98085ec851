package pades

import (
	"bytes"
	"fmt"
	"strconv"
)

// The update's layout, on the holder's side. The change judgement reads
// the file through its cross-reference information, as a conforming
// reader does; a reader that cannot — MuPDF when startxref is not in the
// last 1024 bytes, poppler when an entry it needs is not where the table
// says — rebuilds it by scanning, and then takes the objects and the
// trailer it finds as it finds them: a second trailer naming another
// catalog, written where no table reader looks, then is the document
// (MuPDF shows it). The ceremony's update is one incremental update as
// ISO 32000-1 §7.5.6 lays it out: the objects it adds or changes, one
// cross-reference section (a table and its trailer, or a cross-reference
// stream, §7.5.8) whose /Prev is the document shown's, startxref and
// %%EOF on the last line (§7.5.5) — so the holder's side requires that,
// byte for byte, and nothing between or after.

// updateLayout checks that doc's bytes from from on (the update, with the
// check value in its gap) are laid out as one incremental update of the
// document whose last cross-reference section is at prev: white space,
// indirect objects each ending with endobj (a stream's data exactly its
// direct /Length), one cross-reference section at doc.lastXref with /Prev
// prev, startxref naming it, %%EOF and at most an end-of-line marker.
func updateLayout(doc *document, from, prev int64) error {
	bad := func(at int, what string) error {
		return fmt.Errorf("%w: the update is not laid out as one incremental update (ISO 32000-1 §7.5.6): %s at byte %d", ErrMalformed, what, at)
	}
	data := doc.data
	l := &lexer{buf: data, pos: int(from)}
	skip := func() {
		for l.pos < len(data) && isSpace(data[l.pos]) {
			l.pos++
		}
	}
	sections := 0
	for {
		skip()
		if l.pos >= len(data) {
			return bad(l.pos, "the update has no startxref and %%EOF")
		}
		at := l.pos
		if bytes.HasPrefix(data[at:], []byte("startxref")) {
			break
		}
		if data[at] == '%' {
			return bad(at, "a comment")
		}
		if bytes.HasPrefix(data[at:], []byte("xref")) {
			if int64(at) != doc.lastXref {
				return bad(at, "a cross-reference table that startxref does not name")
			}
			sections++
			// readSection read it as far as its trailer: read it again
			// to find where the trailer ends.
			for l.keyword() != "trailer" {
				if l.pos >= len(data) {
					return bad(at, "a cross-reference table without trailer")
				}
			}
			if _, err := l.object(0); err != nil {
				return bad(at, "a trailer that does not parse")
			}
			continue
		}
		num, o, err := doc.indirectAt(int64(at))
		if err != nil {
			return bad(at, "bytes that are not an indirect object")
		}
		// Past the object: its stream data, whose length puce took from
		// /Length or from where endstream is; the two must agree.
		l2 := &lexer{buf: data, pos: at}
		l2.keyword()
		l2.keyword()
		l2.keyword()
		if _, err := l2.object(0); err != nil {
			return bad(at, "an object that does not parse")
		}
		if st, ok := o.(*stream); ok {
			n, _ := st.dict.get("Length").(number)
			length, ok := n.int()
			start := cap(data) - cap(st.raw)
			if !ok || length != int64(len(st.raw)) {
				return bad(at, fmt.Sprintf("object %d's stream data, not as long as its direct /Length says", num))
			}
			l2.pos = start + len(st.raw)
			if l2.keyword() != "endstream" {
				return bad(at, fmt.Sprintf("object %d's stream, not ended by endstream", num))
			}
			if st.dict.get("Type") == name("XRef") {
				if int64(at) != doc.lastXref {
					return bad(at, "a cross-reference stream that startxref does not name")
				}
				sections++
			}
		}
		if l2.keyword() != "endobj" {
			return bad(at, fmt.Sprintf("object %d, not ended by endobj", num))
		}
		l.pos = l2.pos
	}
	if sections != 1 {
		return bad(l.pos, fmt.Sprintf("%d cross-reference sections", sections))
	}
	if p, _ := doc.trailer.get("Prev").(number); p != number(strconv.FormatInt(prev, 10)) {
		return bad(int(doc.lastXref), fmt.Sprintf("a trailer whose /Prev is %q, not the document shown's last cross-reference section at %d", string(p), prev))
	}
	l.keyword() // startxref
	if l.keyword() != strconv.FormatInt(doc.lastXref, 10) {
		return bad(l.pos, "startxref naming another section")
	}
	skip()
	rest, ok := bytes.CutPrefix(data[l.pos:], []byte("%%EOF"))
	if !ok {
		return bad(l.pos, "no %%EOF after startxref")
	}
	switch string(rest) {
	case "", "\n", "\r", "\r\n":
		return nil
	}
	return bad(l.pos+5, "bytes after %%EOF")
}

// updateRefs checks that every reference the objects the update writes
// make, and its trailer, names an object doc's table holds under that
// generation. A reference to another is null to a conforming reader (ISO
// 32000-1 §7.3.10), but poppler, asked for it, rebuilds the table by
// scanning the file: a server would write one to make it read the file
// otherwise than its table says. The ceremony's update refers to the
// objects it adds and to the document's; what the document shown's
// version of an object it rewrites referred to is the document's.
func updateRefs(doc, base *document) error {
	check := func(where string, o, before object) error {
		had := map[ref]bool{} // what the document shown's version referred to
		eachRef(before, func(r ref) { had[r] = true }, 0)
		var bad *ref
		eachRef(o, func(v ref) {
			if e, ok := doc.xref[v.num]; bad == nil && !had[v] && (!ok || e.kind == 0 || generation(e) != v.gen) {
				bad = &v
			}
		}, 0)
		if bad != nil {
			return fmt.Errorf("%w: the update's %s refers to %d %d R, which the cross-reference information does not hold: a reader asked for it rebuilds the table", ErrMalformed, where, bad.num, bad.gen)
		}
		return nil
	}
	if err := check("trailer", doc.trailer, base.trailer); err != nil {
		return err
	}
	for num, e := range doc.xref {
		if e.kind == 0 || e == base.xref[num] {
			continue
		}
		o, err := doc.getObject(num)
		if err != nil {
			return fmt.Errorf("%w: the update's object %d: %w", ErrMalformed, num, err)
		}
		var before object
		if base.has(ref{num, 0}) {
			before, _ = base.getObject(num)
		}
		if err := check(fmt.Sprintf("object %d", num), o, before); err != nil {
			return err
		}
	}
	return nil
}
