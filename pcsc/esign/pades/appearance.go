package pades

import (
	"bytes"
	"fmt"
	"strconv"
)

// appearance gives the widget a /Rect and a normal appearance (ISO 32000-1
// §12.5.5): a form XObject the size of the box, framed, with the lines in
// Helvetica (a standard 14 font, §9.6.2.2, so nothing is embedded) in
// WinAnsiEncoding.
func (u *update) appearance(widget *dict, ap *Appearance) {
	num := func(f float64) number { return number(strconv.FormatFloat(f, 'f', -1, 64)) }
	r := ap.Rect
	w, h := r[2]-r[0], r[3]-r[1]
	if w < 0 {
		w = -w
	}
	if h < 0 {
		h = -h
	}
	widget.set("Rect", array{num(r[0]), num(r[1]), num(r[2]), num(r[3])})
	font := u.alloc()
	fd := newDict()
	fd.set("Type", name("Font"))
	fd.set("Subtype", name("Type1"))
	fd.set("BaseFont", name("Helvetica"))
	fd.set("Encoding", name("WinAnsiEncoding"))
	u.put(font, fd)

	// The text fills the box's height, within readable sizes.
	size := min(max((h-6)/(1.25*float64(max(len(ap.Lines), 1))), 6), 14)
	var c bytes.Buffer
	fmt.Fprintf(&c, "q 0.15 0.3 0.6 RG 1 w 0.5 0.5 %s %s re S Q\n", num(w-1), num(h-1))
	fmt.Fprintf(&c, "BT 0.1 0.1 0.1 rg /Helv %s Tf %s TL 4 %s Td\n", num(size), num(size+2), num(h-size-3))
	for i, line := range ap.Lines {
		if i > 0 {
			c.WriteString("T* ")
		}
		writeObject(&c, pdfStr(winAnsi(line)))
		c.WriteString(" Tj\n")
	}
	c.WriteString("ET")
	res := newDict()
	fonts := newDict()
	fonts.set("Helv", font)
	res.set("Font", fonts)
	xd := newDict()
	xd.set("Type", name("XObject"))
	xd.set("Subtype", name("Form"))
	xd.set("BBox", array{number("0"), number("0"), num(w), num(h)})
	xd.set("Resources", res)
	xobj := u.alloc()
	u.put(xobj, &stream{dict: xd, raw: c.Bytes()})
	apd := newDict()
	apd.set("N", xobj)
	widget.set("AP", apd)
	widget.set("F", number("132")) // Print, Locked
}

// winAnsi encodes s for a WinAnsiEncoding font: Latin-1 letters as they
// are, anything else as '?'.
func winAnsi(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x20 || r > 0xff || (r >= 0x7f && r < 0xa0) {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}
