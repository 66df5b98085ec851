package pades

import (
	"fmt"
	"strconv"
)

// What a reader that rebuilds the cross-reference table finds. A reader
// that cannot use the table — it does not find startxref where it looks
// (MuPDF: in the last 1024 bytes), an entry names an object that is not
// there or has another generation (poppler then rebuilds), a section it
// cannot parse — scans the file for "n g obj" headers, and the last
// object of each number wins. An update can be built to make a reader do
// so: what it then shows is no longer what the table says, which is what
// the change judgement reads. ISO 32000-1 §7.5.6 has an update append the
// objects it adds or changes and a cross-reference section listing them;
// so each object written in an update is the one the table places at its
// number, and for every object the table stores directly, its last
// header in the file is the one the table points to: then scanning and
// the table agree.

// objectHeader is an "n g obj" header found by scanning: its offset (of
// its first digit), number and generation.
type objectHeader struct {
	off      int64
	num, gen int
}

// scanHeaders finds, as a rebuilding reader does, every "n g obj" in
// data: two unsigned integers separated by white space, then "obj"
// after optional white space (poppler reads "4 0obj" as a header), with
// no regular character before the number. It reads data once.
func scanHeaders(data []byte) []objectHeader {
	var out []objectHeader
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 0; i+3 <= len(data); i++ {
		if data[i] != 'o' || data[i+1] != 'b' || data[i+2] != 'j' {
			continue
		}
		j := i
		for j > 0 && isSpace(data[j-1]) {
			j--
		}
		ge := j
		for j > 0 && digit(data[j-1]) {
			j--
		}
		gs := j
		if gs == ge {
			continue
		}
		k := j
		for j > 0 && isSpace(data[j-1]) {
			j--
		}
		if j == k {
			continue
		}
		ne := j
		for j > 0 && digit(data[j-1]) {
			j--
		}
		if j == ne || j > 0 && !isSpace(data[j-1]) && !isDelim(data[j-1]) {
			continue
		}
		num, err1 := strconv.Atoi(string(data[j:ne]))
		gen, err2 := strconv.Atoi(string(data[gs:ge]))
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, objectHeader{off: int64(j), num: num, gen: gen})
	}
	return out
}

// scanDisagrees says what, if anything, a reader rebuilding the table by
// scanning doc would read otherwise than its cross-reference information
// says, for the objects written from byte from on — every object an
// update after from writes must be the one the table lists at its number
// — and for every object the table stores directly: its last header is
// the one the table points to.
func scanDisagrees(doc *document, from int64) string {
	last := map[int]objectHeader{}
	for _, h := range scanHeaders(doc.data) {
		last[h.num] = h
	}
	// Where the table points: at the header, or at white space before it.
	at := func(e xrefEntry) int64 {
		off := e.off
		for off >= 0 && off < int64(len(doc.data)) && isSpace(doc.data[off]) {
			off++
		}
		return off
	}
	var refs map[int]bool
	for num, h := range last {
		e, listed := doc.xref[num]
		if !listed || e.kind == 0 {
			// Null to a reader of the table (§7.3.10), and poppler,
			// asked for it, rebuilds the table and finds it.
			if refs == nil {
				refs = doc.references()
			}
			if refs[num] {
				return fmt.Sprintf("object %d, referred to, is free or missing in the cross-reference information but written at byte %d: a reader rebuilding the table by scanning the file reads it", num, h.off)
			}
		}
		switch {
		case h.off >= from && (!listed || e.kind != 1):
			return fmt.Sprintf("object %d %d, written at byte %d after the signed revision, is not in the cross-reference information as stored there: a reader rebuilding the table by scanning the file reads it", num, h.gen, h.off)
		case listed && e.kind == 1 && (at(e) != h.off || e.gen != h.gen):
			return fmt.Sprintf("object %d %d at byte %d is the last of its number in the file, not the one the cross-reference information places at byte %d: a reader rebuilding the table by scanning the file reads it", num, h.gen, h.off, e.off)
		}
	}
	return ""
}
