package pades

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
)

// Writing objects (ISO 32000-1 §7.3) and incremental updates (§7.5.6): the
// original bytes are kept as they are, changed and new objects follow them,
// then a cross-reference section of the kind the file already uses — a
// table, or a stream when the newest section is a stream (§7.5.8.4) — whose
// /Prev points back at the previous one.

func writeName(b *bytes.Buffer, n name) {
	b.WriteByte('/')
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c < 0x21 || c > 0x7e || c == '#' || isDelim(c) {
			fmt.Fprintf(b, "#%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
}

func writeObject(b *bytes.Buffer, o object) {
	switch v := o.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case number:
		b.WriteString(string(v))
	case name:
		writeName(b, v)
	case pdfStr:
		b.WriteByte('<')
		const digits = "0123456789ABCDEF"
		for _, c := range v {
			b.WriteByte(digits[c>>4])
			b.WriteByte(digits[c&15])
		}
		b.WriteByte('>')
	case array:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(' ')
			}
			writeObject(b, e)
		}
		b.WriteByte(']')
	case ref:
		fmt.Fprintf(b, "%d %d R", v.num, v.gen)
	case *dict:
		b.WriteString("<<")
		for _, k := range v.keys {
			writeName(b, k)
			b.WriteByte(' ')
			writeObject(b, v.vals[k])
		}
		b.WriteString(">>")
	case *stream:
		d := v.dict.clone()
		d.set("Length", number(strconv.Itoa(len(v.raw))))
		writeObject(b, d)
		b.WriteString("\nstream\n")
		b.Write(v.raw)
		b.WriteString("\nendstream")
	}
}

func serialize(o object) []byte {
	var b bytes.Buffer
	writeObject(&b, o)
	return b.Bytes()
}

// update is an incremental update being built on a document.
type update struct {
	doc  *document
	next int
	objs []updObj
}

type updObj struct {
	num, gen int
	body     []byte
}

func newUpdate(doc *document) *update {
	next := doc.size
	for n := range doc.xref {
		next = max(next, n+1)
	}
	return &update{doc: doc, next: next}
}

func (u *update) alloc() ref {
	u.next++
	return ref{u.next - 1, 0}
}

// put writes o as object r, replacing an earlier put of the same number.
func (u *update) put(r ref, o object) { u.putRaw(r, serialize(o)) }

func (u *update) putRaw(r ref, body []byte) {
	u.objs = slices.DeleteFunc(u.objs, func(x updObj) bool { return x.num == r.num })
	u.objs = append(u.objs, updObj{r.num, r.gen, body})
}

// bytes returns the document with the update appended.
func (u *update) bytes() []byte {
	base := u.doc.data
	var b bytes.Buffer
	extra := 4096
	for _, o := range u.objs {
		extra += len(o.body) + 64
	}
	b.Grow(len(base) + extra)
	b.Write(base)
	if len(base) > 0 && base[len(base)-1] != '\n' && base[len(base)-1] != '\r' {
		b.WriteByte('\n')
	}
	offs := map[int]int{}
	for _, o := range u.objs {
		offs[o.num] = b.Len()
		fmt.Fprintf(&b, "%d %d obj\n", o.num, o.gen)
		b.Write(o.body)
		b.WriteString("\nendobj\n")
	}
	trailer := newDict()
	for _, k := range []name{"Root", "Info", "ID"} {
		if v := u.doc.trailer.get(k); v != nil {
			trailer.set(k, v)
		}
	}
	gens := map[int]int{}
	nums := make([]int, 0, len(u.objs)+1)
	for _, o := range u.objs {
		nums = append(nums, o.num)
		gens[o.num] = o.gen
	}
	if !u.doc.xrefStream {
		xrefAt := b.Len()
		slices.Sort(nums)
		b.WriteString("xref\n")
		for i := 0; i < len(nums); {
			j := i
			for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
				j++
			}
			fmt.Fprintf(&b, "%d %d\n", nums[i], j-i+1)
			for k := i; k <= j; k++ {
				fmt.Fprintf(&b, "%010d %05d n\r\n", offs[nums[k]], gens[nums[k]])
			}
			i = j + 1
		}
		trailer.set("Size", number(strconv.Itoa(u.next)))
		trailer.set("Prev", number(strconv.FormatInt(u.doc.lastXref, 10)))
		b.WriteString("trailer\n")
		writeObject(&b, trailer)
		fmt.Fprintf(&b, "\nstartxref\n%d\n%%%%EOF\n", xrefAt)
		return b.Bytes()
	}
	// A cross-reference stream, its own entry included, rows of type (1
	// byte), offset (4 bytes — files stay under MaxDocumentSize) and
	// generation (2 bytes).
	self := u.alloc()
	xrefAt := b.Len()
	offs[self.num] = xrefAt
	nums = append(nums, self.num)
	slices.Sort(nums)
	var rows []byte
	var index array
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		index = append(index, number(strconv.Itoa(nums[i])), number(strconv.Itoa(j-i+1)))
		for k := i; k <= j; k++ {
			rows = append(rows, 1)
			rows = binary.BigEndian.AppendUint32(rows, uint32(offs[nums[k]]))
			rows = binary.BigEndian.AppendUint16(rows, uint16(gens[nums[k]]))
		}
		i = j + 1
	}
	trailer.set("Type", name("XRef"))
	trailer.set("Size", number(strconv.Itoa(u.next)))
	trailer.set("W", array{number("1"), number("4"), number("2")})
	trailer.set("Index", index)
	trailer.set("Prev", number(strconv.FormatInt(u.doc.lastXref, 10)))
	fmt.Fprintf(&b, "%d 0 obj\n", self.num)
	writeObject(&b, &stream{dict: trailer, raw: rows})
	fmt.Fprintf(&b, "\nendobj\nstartxref\n%d\n%%%%EOF\n", xrefAt)
	return b.Bytes()
}
