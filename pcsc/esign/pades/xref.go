package pades

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"strconv"
)

// Reading a PDF file's structure (ISO 32000-1 §7.5): the last startxref,
// the cross-reference sections back through /Prev — classic tables
// (§7.5.4), cross-reference streams (§7.5.8) and hybrid files' /XRefStm
// (§7.5.8.4) — and objects stored directly or in object streams (§7.5.7).

type xrefEntry struct {
	kind byte  // 0 free, 1 in the file, 2 in an object stream
	off  int64 // kind 1: byte offset; kind 2: the object stream's number
	idx  int   // kind 2: index in the object stream
	gen  int
}

type document struct {
	data    []byte
	xref    map[int]xrefEntry
	trailer *dict // the newest trailer (or xref stream dictionary)
	// lastXref is the offset of the newest cross-reference section, and
	// xrefStream whether it is a stream: an update writes the same kind.
	lastXref   int64
	xrefStream bool
	size       int
	// sections are the offsets of the cross-reference sections read,
	// newest first.
	sections []int64
	objStms  map[int]*objStm
	decoded  int // bytes inflated so far, bounded by maxInflated
	// reads counts the objects read from the file, for the tests that
	// bound the work a hostile file can cause.
	reads int
	// lengthDepth counts indirect /Length look-ups under way: a stream's
	// length in another stream's object, and so on, is cut short.
	lengthDepth int
}

type objStm struct {
	data []byte
	offs []int // offset of each object, from the stream's start
	nums []int
}

const (
	maxXrefSections = 4096
	maxInflated     = 256 << 20
)

// parseDocument reads the cross-reference information of data.
func parseDocument(data []byte) (*document, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxDocumentSize)
	}
	// The header may follow some bytes of other data (ISO 32000-1 Annex
	// H.3 allows up to 1024).
	if !bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-")) {
		return nil, fmt.Errorf("%w: no %%PDF- header", ErrMalformed)
	}
	tail := data[max(0, len(data)-2048):]
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return nil, fmt.Errorf("%w: no startxref", ErrMalformed)
	}
	l := &lexer{buf: data, pos: len(data) - len(tail) + i + len("startxref")}
	off, err := strconv.ParseInt(l.keyword(), 10, 64)
	if err != nil || off < 0 || off >= int64(len(data)) {
		return nil, fmt.Errorf("%w: bad startxref", ErrMalformed)
	}
	d := &document{data: data, xref: map[int]xrefEntry{}, lastXref: off, objStms: map[int]*objStm{}}
	seen := map[int64]bool{}
	for n := 0; off >= 0; n++ {
		if seen[off] || n > maxXrefSections {
			return nil, fmt.Errorf("%w: cross-reference sections loop", ErrMalformed)
		}
		seen[off] = true
		d.sections = append(d.sections, off)
		trailer, isStream, err := d.readSection(off)
		if err != nil {
			return nil, err
		}
		if d.trailer == nil {
			d.trailer, d.xrefStream = trailer, isStream
			if s, ok := trailer.get("Size").(number); ok {
				v, _ := s.int()
				d.size = int(v)
			}
		}
		if stm, ok := trailer.get("XRefStm").(number); ok && !isStream {
			if v, ok := stm.int(); ok && !seen[v] && v >= 0 && v < int64(len(data)) {
				seen[v] = true
				if _, _, err := d.readSection(v); err != nil {
					return nil, err
				}
			}
		}
		off = -1
		if p, ok := trailer.get("Prev").(number); ok {
			if v, ok := p.int(); ok && v >= 0 && v < int64(len(data)) {
				off = v
			} else {
				return nil, fmt.Errorf("%w: bad /Prev", ErrMalformed)
			}
		}
	}
	if _, ok := d.trailer.get("Root").(ref); !ok {
		return nil, fmt.Errorf("%w: the trailer names no catalog (/Root)", ErrMalformed)
	}
	if d.trailer.get("Encrypt") != nil {
		return nil, fmt.Errorf("%w: encrypted PDF", ErrUnsupported)
	}
	return d, nil
}

// add records an entry unless a newer section already did.
func (d *document) add(num int, e xrefEntry) {
	if _, ok := d.xref[num]; !ok {
		d.xref[num] = e
	}
}

// readSection reads the cross-reference section at off, table or stream.
func (d *document) readSection(off int64) (*dict, bool, error) {
	l := &lexer{buf: d.data, pos: int(off)}
	if l.peekKeyword() != "xref" {
		num, s, err := d.indirectAt(off)
		if err != nil {
			return nil, false, err
		}
		st, ok := s.(*stream)
		if !ok || st.dict.get("Type") != name("XRef") {
			return nil, false, fmt.Errorf("%w: object %d at startxref is not a cross-reference stream", ErrMalformed, num)
		}
		return st.dict, true, d.readXrefStream(st)
	}
	l.keyword()
	for {
		k := l.keyword()
		if k == "trailer" {
			break
		}
		start, err1 := strconv.Atoi(k)
		count, err2 := strconv.Atoi(l.keyword())
		if err1 != nil || err2 != nil || start < 0 || count < 0 || count > len(d.data)/18 {
			return nil, false, errSyntax(l.pos, "bad cross-reference subsection")
		}
		for i := 0; i < count; i++ {
			o, err1 := strconv.ParseInt(l.keyword(), 10, 64)
			g, err2 := strconv.Atoi(l.keyword())
			t := l.keyword()
			if err1 != nil || err2 != nil || (t != "n" && t != "f") {
				return nil, false, errSyntax(l.pos, "bad cross-reference entry")
			}
			e := xrefEntry{kind: 0, gen: g}
			if t == "n" {
				e.kind, e.off = 1, o
			}
			d.add(start+i, e)
		}
	}
	t, err := l.object(0)
	if err != nil {
		return nil, false, err
	}
	td, ok := t.(*dict)
	if !ok {
		return nil, false, errSyntax(l.pos, "trailer is not a dictionary")
	}
	return td, false, nil
}

func (d *document) readXrefStream(st *stream) error {
	data, err := d.decode(st)
	if err != nil {
		return err
	}
	w, ok := st.dict.get("W").(array)
	if !ok || len(w) != 3 {
		return fmt.Errorf("%w: cross-reference stream /W", ErrMalformed)
	}
	var ws [3]int
	for i, v := range w {
		n, _ := v.(number)
		x, ok := n.int()
		if !ok || x < 0 || x > 8 {
			return fmt.Errorf("%w: cross-reference stream /W", ErrMalformed)
		}
		ws[i] = int(x)
	}
	size, _ := st.dict.get("Size").(number)
	sz, _ := size.int()
	index := array{number("0"), size}
	if ix, ok := st.dict.get("Index").(array); ok {
		index = ix
	}
	row := ws[0] + ws[1] + ws[2]
	if row == 0 || len(index)%2 != 0 || sz < 0 {
		return fmt.Errorf("%w: cross-reference stream /Index", ErrMalformed)
	}
	field := func(b []byte) int64 {
		var v int64
		for _, c := range b {
			v = v<<8 | int64(c)
		}
		return v
	}
	pos := 0
	for i := 0; i < len(index); i += 2 {
		a, _ := index[i].(number)
		c, _ := index[i+1].(number)
		start, ok1 := a.int()
		count, ok2 := c.int()
		if !ok1 || !ok2 || start < 0 || count < 0 || count > int64(len(data)/row)+1 {
			return fmt.Errorf("%w: cross-reference stream /Index", ErrMalformed)
		}
		for j := int64(0); j < count; j++ {
			if pos+row > len(data) {
				return fmt.Errorf("%w: cross-reference stream too short", ErrMalformed)
			}
			r := data[pos : pos+row]
			pos += row
			t := int64(1)
			if ws[0] > 0 {
				t = field(r[:ws[0]])
			}
			f2, f3 := field(r[ws[0]:ws[0]+ws[1]]), field(r[ws[0]+ws[1]:])
			num := int(start + j)
			switch t {
			case 0:
				d.add(num, xrefEntry{kind: 0, gen: int(f3)})
			case 1:
				d.add(num, xrefEntry{kind: 1, off: f2, gen: int(f3)})
			case 2:
				d.add(num, xrefEntry{kind: 2, off: f2, idx: int(f3)})
			}
		}
	}
	return nil
}

// indirectAt reads "n g obj … endobj" at off.
func (d *document) indirectAt(off int64) (int, object, error) {
	if off < 0 || off >= int64(len(d.data)) {
		return 0, nil, fmt.Errorf("%w: object offset %d outside the file", ErrMalformed, off)
	}
	l := &lexer{buf: d.data, pos: int(off)}
	num, err1 := strconv.Atoi(l.keyword())
	_, err2 := strconv.Atoi(l.keyword())
	if err1 != nil || err2 != nil || l.keyword() != "obj" {
		return 0, nil, errSyntax(int(off), "not an indirect object")
	}
	o, err := l.object(0)
	if err != nil {
		return 0, nil, err
	}
	dd, ok := o.(*dict)
	if !ok || l.peekKeyword() != "stream" {
		return num, o, nil
	}
	l.keyword()
	// The data starts after the EOL that follows "stream" (§7.3.8.1).
	if l.pos < len(d.data) && d.data[l.pos] == '\r' {
		l.pos++
	}
	if l.pos < len(d.data) && d.data[l.pos] == '\n' {
		l.pos++
	}
	start := l.pos
	length := int64(-1)
	switch v := dd.get("Length").(type) {
	case number:
		length, _ = v.int()
	case ref:
		if num != v.num && d.lengthDepth < 4 {
			d.lengthDepth++
			defer func() { d.lengthDepth-- }()
			if lo, err := d.resolve(v); err == nil {
				if n, ok := lo.(number); ok {
					length, _ = n.int()
				}
			}
		}
	}
	end := int64(start) + length
	if length < 0 || end > int64(len(d.data)) || !bytes.HasPrefix(bytes.TrimLeft(d.data[end:min(end+32, int64(len(d.data)))], "\r\n\t "), []byte("endstream")) {
		// A wrong /Length is common; the data then ends at endstream.
		e := bytes.Index(d.data[start:], []byte("endstream"))
		if e < 0 {
			return 0, nil, errSyntax(start, "stream without endstream")
		}
		end = int64(start + e)
		for end > int64(start) && (d.data[end-1] == '\n' || d.data[end-1] == '\r') {
			end--
		}
	}
	return num, &stream{dict: dd, raw: d.data[start:end]}, nil
}

// decode returns a stream's data, inflated: FlateDecode with or without
// a PNG or TIFF predictor (§7.4.4) is what object and cross-reference
// streams use.
func (d *document) decode(st *stream) ([]byte, error) {
	var filters array
	switch f := st.dict.get("Filter").(type) {
	case nil:
		return st.raw, nil
	case name:
		filters = array{f}
	case array:
		filters = f
	}
	if len(filters) != 1 || filters[0] != name("FlateDecode") {
		return nil, fmt.Errorf("%w: stream filter %v", ErrUnsupported, filters)
	}
	zr, err := zlib.NewReader(bytes.NewReader(st.raw))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed stream: %v", ErrMalformed, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(maxInflated-d.decoded)+1))
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("%w: compressed stream: %v", ErrMalformed, err)
	}
	d.decoded += len(out)
	if d.decoded > maxInflated {
		return nil, fmt.Errorf("%w: compressed streams inflate to over %d bytes", ErrTooLarge, maxInflated)
	}
	parms, _ := st.dict.get("DecodeParms").(*dict)
	if a, ok := st.dict.get("DecodeParms").(array); ok && len(a) == 1 {
		parms, _ = a[0].(*dict)
	}
	if parms == nil {
		return out, nil
	}
	pred, _ := parms.get("Predictor").(number)
	p, _ := pred.int()
	if p <= 1 {
		return out, nil
	}
	cols := int64(1)
	if c, ok := parms.get("Columns").(number); ok {
		cols, _ = c.int()
	}
	if cols < 1 || cols > 1<<20 {
		return nil, fmt.Errorf("%w: predictor columns", ErrMalformed)
	}
	if p == 2 { // TIFF with 8-bit single components, the only one xref streams use
		for i := range out {
			if int64(i)%cols != 0 {
				out[i] += out[i-1]
			}
		}
		return out, nil
	}
	return unpredictPNG(out, int(cols))
}

// unpredictPNG undoes PNG row filters (RFC 2083 §6), one byte per pixel.
func unpredictPNG(in []byte, cols int) ([]byte, error) {
	row := cols + 1
	if len(in)%row != 0 {
		return nil, fmt.Errorf("%w: predicted stream length", ErrMalformed)
	}
	out := make([]byte, 0, len(in)/row*cols)
	prev := make([]byte, cols)
	for i := 0; i < len(in); i += row {
		f, cur := in[i], append([]byte(nil), in[i+1:i+row]...)
		for j := range cur {
			var left, upLeft byte
			if j > 0 {
				left, upLeft = cur[j-1], prev[j-1]
			}
			up := prev[j]
			switch f {
			case 0:
			case 1:
				cur[j] += left
			case 2:
				cur[j] += up
			case 3:
				cur[j] += byte((int(left) + int(up)) / 2)
			case 4:
				cur[j] += paeth(left, up, upLeft)
			default:
				return nil, fmt.Errorf("%w: PNG predictor %d", ErrMalformed, f)
			}
		}
		out = append(out, cur...)
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// getObject returns object num, or nil (null) for a free or missing one
// (§7.3.10: a reference to a missing object is null).
func (d *document) getObject(num int) (object, error) {
	d.reads++
	e, ok := d.xref[num]
	if !ok || e.kind == 0 {
		return nil, nil
	}
	if e.kind == 1 {
		got, o, err := d.indirectAt(e.off)
		if err != nil {
			return nil, err
		}
		if got != num {
			return nil, fmt.Errorf("%w: the cross-reference table places object %d where object %d is", ErrMalformed, num, got)
		}
		return o, nil
	}
	os, err := d.objStm(int(e.off))
	if err != nil {
		return nil, err
	}
	if e.idx < 0 || e.idx >= len(os.offs) || os.nums[e.idx] != num {
		return nil, fmt.Errorf("%w: object %d is not where its object stream says", ErrMalformed, num)
	}
	l := &lexer{buf: os.data, pos: os.offs[e.idx]}
	return l.object(0)
}

func (d *document) objStm(num int) (*objStm, error) {
	if os, ok := d.objStms[num]; ok {
		return os, nil
	}
	e, ok := d.xref[num]
	if !ok || e.kind != 1 {
		return nil, fmt.Errorf("%w: object stream %d missing", ErrMalformed, num)
	}
	_, o, err := d.indirectAt(e.off)
	if err != nil {
		return nil, err
	}
	st, ok := o.(*stream)
	if !ok || st.dict.get("Type") != name("ObjStm") {
		return nil, fmt.Errorf("%w: object %d is not an object stream", ErrMalformed, num)
	}
	data, err := d.decode(st)
	if err != nil {
		return nil, err
	}
	nn, _ := st.dict.get("N").(number)
	ff, _ := st.dict.get("First").(number)
	n, ok1 := nn.int()
	first, ok2 := ff.int()
	if !ok1 || !ok2 || n < 0 || first < 0 || first > int64(len(data)) || n > int64(len(data)) {
		return nil, fmt.Errorf("%w: object stream %d header", ErrMalformed, num)
	}
	os := &objStm{data: data}
	l := &lexer{buf: data[:first]}
	for i := int64(0); i < n; i++ {
		on, err1 := strconv.Atoi(l.keyword())
		oo, err2 := strconv.Atoi(l.keyword())
		if err1 != nil || err2 != nil || oo < 0 || int64(oo)+first > int64(len(data)) {
			return nil, fmt.Errorf("%w: object stream %d header", ErrMalformed, num)
		}
		os.nums, os.offs = append(os.nums, on), append(os.offs, int(first)+oo)
	}
	d.objStms[num] = os
	return os, nil
}

// resolve follows references until a direct object.
func (d *document) resolve(o object) (object, error) {
	for i := 0; i < 32; i++ {
		r, ok := o.(ref)
		if !ok {
			return o, nil
		}
		var err error
		if o, err = d.getObject(r.num); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: references loop", ErrMalformed)
}

func (d *document) resolveDict(o object) (*dict, error) {
	o, err := d.resolve(o)
	if err != nil {
		return nil, err
	}
	switch v := o.(type) {
	case *dict:
		return v, nil
	case *stream:
		return v.dict, nil
	}
	return nil, nil
}

// catalog returns the document catalog and its reference.
func (d *document) catalog() (ref, *dict, error) {
	r := d.trailer.get("Root").(ref)
	c, err := d.resolveDict(r)
	if err != nil {
		return r, nil, err
	}
	if c == nil {
		return r, nil, fmt.Errorf("%w: no catalog", ErrMalformed)
	}
	return r, c, nil
}

// firstPage finds the first page: the page tree's leftmost leaf (§7.7.3).
func (d *document) firstPage() (ref, *dict, error) {
	_, cat, err := d.catalog()
	if err != nil {
		return ref{}, nil, err
	}
	node := cat.get("Pages")
	for depth := 0; depth < maxDepth; depth++ {
		r, ok := node.(ref)
		if !ok {
			return ref{}, nil, fmt.Errorf("%w: page tree node is not an indirect object", ErrMalformed)
		}
		n, err := d.resolveDict(r)
		if err != nil || n == nil {
			return ref{}, nil, fmt.Errorf("%w: page tree", ErrMalformed)
		}
		if n.get("Type") == name("Page") {
			return r, n, nil
		}
		kids, err := d.resolve(n.get("Kids"))
		if err != nil {
			return ref{}, nil, err
		}
		k, ok := kids.(array)
		if !ok || len(k) == 0 {
			return ref{}, nil, fmt.Errorf("%w: the document has no page", ErrMalformed)
		}
		node = k[0]
	}
	return ref{}, nil, fmt.Errorf("%w: page tree too deep", ErrMalformed)
}

// maxPages bounds the page tree walk: far more than a document of
// MaxDocumentSize can hold pages of its own, few enough to stop a tree
// whose nodes refer to each other in a loop of fresh references.
const maxPages = 1 << 16

// eachPage calls fn with every page, in order (a depth-first walk of the
// page tree, ISO 32000-1 §7.7.3.2), each node once. A kid that is not an
// indirect reference to a dictionary is passed over: the pages it does
// not hide are still walked.
func (d *document) eachPage(fn func(r ref, page *dict) error) error {
	_, cat, err := d.catalog()
	if err != nil {
		return err
	}
	seen := map[ref]bool{}
	var walk func(node object, depth int) error
	walk = func(node object, depth int) error {
		r, ok := node.(ref)
		if !ok {
			return nil
		}
		if depth > maxDepth || len(seen) >= maxPages {
			return fmt.Errorf("%w: page tree too deep or large", ErrMalformed)
		}
		if seen[r] {
			return nil
		}
		seen[r] = true
		n, err := d.resolveDict(r)
		if err != nil || n == nil {
			return nil
		}
		if n.get("Type") == name("Page") {
			return fn(r, n)
		}
		kids, err := d.resolve(n.get("Kids"))
		if err != nil {
			return err
		}
		k, _ := kids.(array)
		for _, kid := range k {
			if err := walk(kid, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(cat.get("Pages"), 0)
}
