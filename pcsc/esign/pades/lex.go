package pades

import (
	"bytes"
	"fmt"
	"strconv"
)

// The PDF object syntax (ISO 32000-1 §7.2 and §7.3): just what signing and
// verifying need — read any object, keep numbers as written, write objects
// back. Every read is bounded by the input, and nesting by maxDepth.

type (
	name   string
	pdfStr []byte
	array  []object
	number string // as written: an integer or a real
	ref    struct{ num, gen int }
	object any // nil (null), bool, number, name, pdfStr, array, *dict, *stream, ref
)

// dict keeps its keys in order, so that a rewritten dictionary stays close
// to the original.
type dict struct {
	keys []name
	vals map[name]object
}

type stream struct {
	dict *dict
	raw  []byte // as stored, still encoded
}

func newDict() *dict { return &dict{vals: map[name]object{}} }

func (d *dict) get(k name) object {
	if d == nil {
		return nil
	}
	return d.vals[k]
}

func (d *dict) set(k name, v object) {
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
}

func (d *dict) clone() *dict {
	c := &dict{keys: append([]name(nil), d.keys...), vals: make(map[name]object, len(d.vals))}
	for k, v := range d.vals {
		c.vals[k] = v
	}
	return c
}

func (n number) int() (int64, bool) {
	v, err := strconv.ParseInt(string(n), 10, 64)
	return v, err == nil
}

const maxDepth = 64

// lexer reads tokens from buf starting at pos.
type lexer struct {
	buf []byte
	pos int
}

func isSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.buf) {
		c := l.buf[l.pos]
		if isSpace(c) {
			l.pos++
		} else if c == '%' {
			for l.pos < len(l.buf) && l.buf[l.pos] != '\n' && l.buf[l.pos] != '\r' {
				l.pos++
			}
		} else {
			return
		}
	}
}

// keyword reads a regular token (a number, true, obj, R…).
func (l *lexer) keyword() string {
	l.skipSpace()
	start := l.pos
	for l.pos < len(l.buf) && !isSpace(l.buf[l.pos]) && !isDelim(l.buf[l.pos]) {
		l.pos++
	}
	return string(l.buf[start:l.pos])
}

func (l *lexer) peekKeyword() string {
	save := l.pos
	k := l.keyword()
	l.pos = save
	return k
}

func errSyntax(pos int, what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, pos)
}

// object reads one direct object; a reference "n g R" is read as ref.
func (l *lexer) object(depth int) (object, error) {
	if depth > maxDepth {
		return nil, errSyntax(l.pos, "objects nested too deep")
	}
	l.skipSpace()
	if l.pos >= len(l.buf) {
		return nil, errSyntax(l.pos, "unexpected end")
	}
	switch c := l.buf[l.pos]; c {
	case '/':
		return l.name()
	case '(':
		return l.literal()
	case '<':
		if l.pos+1 < len(l.buf) && l.buf[l.pos+1] == '<' {
			return l.dict(depth)
		}
		return l.hex()
	case '[':
		l.pos++
		var a array
		for {
			l.skipSpace()
			if l.pos >= len(l.buf) {
				return nil, errSyntax(l.pos, "unterminated array")
			}
			if l.buf[l.pos] == ']' {
				l.pos++
				if a == nil {
					a = array{}
				}
				return a, nil
			}
			v, err := l.object(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	}
	start := l.pos
	k := l.keyword()
	switch k {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	case "":
		return nil, errSyntax(start, fmt.Sprintf("unexpected %q", l.buf[start]))
	}
	if !isNumber(k) {
		return nil, errSyntax(start, fmt.Sprintf("unexpected %q", k))
	}
	// "n g R" is a reference: look ahead for it.
	if n, err := strconv.Atoi(k); err == nil && n >= 0 {
		save := l.pos
		g := l.keyword()
		if gen, err := strconv.Atoi(g); err == nil && gen >= 0 && l.keyword() == "R" {
			return ref{n, gen}, nil
		}
		l.pos = save
	}
	return number(k), nil
}

func isNumber(s string) bool {
	digits, dot := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dot++
		case (c == '-' || c == '+') && i == 0:
		default:
			return false
		}
	}
	return digits > 0 && dot <= 1
}

func (l *lexer) name() (name, error) {
	l.pos++ // '/'
	var out []byte
	for l.pos < len(l.buf) && !isSpace(l.buf[l.pos]) && !isDelim(l.buf[l.pos]) {
		c := l.buf[l.pos]
		if c == '#' && l.pos+2 < len(l.buf) {
			if v, err := strconv.ParseUint(string(l.buf[l.pos+1:l.pos+3]), 16, 8); err == nil {
				out = append(out, byte(v))
				l.pos += 3
				continue
			}
		}
		out = append(out, c)
		l.pos++
	}
	return name(out), nil
}

func (l *lexer) literal() (pdfStr, error) {
	start := l.pos
	l.pos++
	depth := 1
	out := []byte{}
	for l.pos < len(l.buf) {
		c := l.buf[l.pos]
		l.pos++
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return out, nil
			}
		case '\\':
			if l.pos >= len(l.buf) {
				return nil, errSyntax(start, "unterminated string")
			}
			e := l.buf[l.pos]
			l.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if l.pos < len(l.buf) && l.buf[l.pos] == '\n' {
					l.pos++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for i := 0; i < 2 && l.pos < len(l.buf) && l.buf[l.pos] >= '0' && l.buf[l.pos] <= '7'; i++ {
						v = v*8 + int(l.buf[l.pos]-'0')
						l.pos++
					}
					c = byte(v)
				} else {
					c = e
				}
			}
		}
		out = append(out, c)
	}
	return nil, errSyntax(start, "unterminated string")
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (l *lexer) hex() (pdfStr, error) {
	start := l.pos
	end := bytes.IndexByte(l.buf[l.pos:], '>')
	if end < 0 {
		return nil, errSyntax(start, "unterminated hex string")
	}
	body := l.buf[l.pos+1 : l.pos+end]
	l.pos += end + 1
	out := make([]byte, 0, len(body)/2+1)
	var hi byte
	half := false
	for _, c := range body {
		if isSpace(c) {
			continue
		}
		v, ok := unhex(c)
		if !ok {
			return nil, errSyntax(start, "bad hex string")
		}
		if half {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		out = append(out, hi<<4) // a missing last digit is 0 (§7.3.4.3)
	}
	return out, nil
}

func (l *lexer) dict(depth int) (*dict, error) {
	start := l.pos
	l.pos += 2
	d := newDict()
	for {
		l.skipSpace()
		if l.pos+1 < len(l.buf) && l.buf[l.pos] == '>' && l.buf[l.pos+1] == '>' {
			l.pos += 2
			return d, nil
		}
		if l.pos >= len(l.buf) || l.buf[l.pos] != '/' {
			return nil, errSyntax(start, "dictionary key is not a name")
		}
		k, _ := l.name()
		v, err := l.object(depth + 1)
		if err != nil {
			return nil, err
		}
		d.set(k, v)
	}
}
