package apdu

import (
	"errors"
	"fmt"
	"slices"
)

// BER-TLV as ISO/IEC 7816-4 §6.3 restricts it (after ISO/IEC 8825-1): tags of
// one to four bytes, definite lengths only.

// Errors of the BER-TLV decoder. A decoding failure is a *TLVError that
// matches one of them with errors.Is.
var (
	// ErrTLVTruncated: the input ends inside a tag, a length or a value.
	ErrTLVTruncated = errors.New("apdu: BER-TLV truncated")
	// ErrTLVTag: a tag is invalid (first byte 00 or FF, longer than 4 bytes)
	// or, when encoding, not a well-formed tag number.
	ErrTLVTag = errors.New("apdu: invalid BER-TLV tag")
	// ErrTLVLength: a length field is indefinite (80) or longer than the 0x84
	// form, or a value is too long to encode.
	ErrTLVLength = errors.New("apdu: invalid BER-TLV length")
	// ErrTLVTooDeep: constructed objects nest deeper than MaxTLVDepth.
	ErrTLVTooDeep = errors.New("apdu: BER-TLV nested too deep")
	// ErrTLVNotFound: Find or FindPath found no data object with the tag.
	ErrTLVNotFound = errors.New("apdu: BER-TLV tag not found")
)

// MaxTLVDepth bounds the nesting Walk and Find descend, so that hostile input
// cannot exhaust the stack.
const MaxTLVDepth = 32

// TLVError locates a decoding failure.
type TLVError struct {
	// Offset is the position in the decoded input where the faulty object
	// starts.
	Offset int
	// Err is ErrTLVTruncated, ErrTLVTag, ErrTLVLength or ErrTLVTooDeep.
	Err error
}

func (e *TLVError) Error() string { return fmt.Sprintf("%v at offset %d", e.Err, e.Offset) }

// Unwrap returns the sentinel.
func (e *TLVError) Unwrap() error { return e.Err }

// Tag is a BER-TLV tag: its encoded bytes read as a big-endian number, so the
// two-byte tag 5F 20 is Tag(0x5F20) and the PIV tag 5F C1 05 is Tag(0x5FC105).
type Tag uint32

// Len is the number of bytes of the tag's encoding.
func (t Tag) Len() int {
	switch {
	case t > 0xFFFFFF:
		return 4
	case t > 0xFFFF:
		return 3
	case t > 0xFF:
		return 2
	}
	return 1
}

func (t Tag) first() byte { return byte(t >> (8 * (t.Len() - 1))) }

// Constructed reports whether the tag marks a constructed data object, whose
// value is itself a sequence of BER-TLV objects (bit 6 of the first byte).
func (t Tag) Constructed() bool { return t.first()&0x20 != 0 }

// Class is the tag class: 0 universal, 1 application, 2 context-specific,
// 3 private (bits 8 and 7 of the first byte).
func (t Tag) Class() int { return int(t.first() >> 6) }

// Valid reports whether t is a well-formed tag: the first byte neither 00 nor
// FF (ISO/IEC 7816-4 §6.3 reserves them for padding), low five bits 11111
// exactly when more bytes follow, bit 8 set on every following byte but the
// last.
func (t Tag) Valid() bool {
	n := t.Len()
	b0 := t.first()
	if b0 == 0x00 || b0 == 0xFF {
		return false
	}
	if n == 1 {
		return b0&0x1F != 0x1F
	}
	if b0&0x1F != 0x1F {
		return false
	}
	for i := n - 2; i >= 0; i-- {
		b := byte(t >> (8 * i))
		if (b&0x80 != 0) != (i > 0) {
			return false
		}
	}
	return true
}

func (t Tag) String() string {
	return fmt.Sprintf("%0*X", 2*t.Len(), uint32(t))
}

func (t Tag) appendTo(dst []byte) []byte {
	for i := t.Len() - 1; i >= 0; i-- {
		dst = append(dst, byte(t>>(8*i)))
	}
	return dst
}

// TLV is one decoded data object. Value is a sub-slice of the decoded input,
// not a copy: it changes if the input does.
type TLV struct {
	Tag   Tag
	Value []byte
}

// Children decodes the value of t as a sequence of data objects. Use it on
// constructed tags, and on primitive tags whose value is known to hold
// BER-TLV (such as PIV's 53).
func (t TLV) Children() ([]TLV, error) { return DecodeTLVs(t.Value) }

// isPadding reports bytes ISO/IEC 7816-4 §6.3 allows before, between and after
// data objects.
func isPadding(b byte) bool { return b == 0x00 || b == 0xFF }

// DecodeTLV decodes the data object at the start of b and returns it with the
// bytes that follow it. It never reads beyond b and never allocates except
// for an error.
func DecodeTLV(b []byte) (t TLV, rest []byte, err error) {
	t, n, err := decodeTLV(b)
	if err != nil {
		return TLV{}, b, &TLVError{Offset: 0, Err: err}
	}
	return t, b[n:], nil
}

// decodeTLV decodes one object and returns the number of bytes it spans.
func decodeTLV(b []byte) (TLV, int, error) {
	if len(b) == 0 {
		return TLV{}, 0, ErrTLVTruncated
	}
	if isPadding(b[0]) {
		return TLV{}, 0, ErrTLVTag
	}
	tag := Tag(b[0])
	i := 1
	if b[0]&0x1F == 0x1F {
		for {
			if i >= len(b) {
				return TLV{}, 0, ErrTLVTruncated
			}
			if i >= 4 {
				return TLV{}, 0, ErrTLVTag
			}
			tag = tag<<8 | Tag(b[i])
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return TLV{}, 0, ErrTLVTruncated
	}
	l := b[i]
	i++
	var n uint64
	switch {
	case l < 0x80:
		n = uint64(l)
	case l == 0x80 || l > 0x84:
		// 80 is BER's indefinite form, which ISO/IEC 7816-4 does not use;
		// longer length fields would describe more than 4 GiB.
		return TLV{}, 0, ErrTLVLength
	default:
		k := int(l & 0x7F)
		if len(b)-i < k {
			return TLV{}, 0, ErrTLVTruncated
		}
		for _, c := range b[i : i+k] {
			n = n<<8 | uint64(c)
		}
		i += k
	}
	if n > uint64(len(b)-i) {
		return TLV{}, 0, ErrTLVTruncated
	}
	end := i + int(n)
	return TLV{Tag: tag, Value: b[i:end:end]}, end, nil
}

// DecodeTLVs decodes a sequence of data objects at one level, skipping the 00
// and FF padding bytes ISO/IEC 7816-4 §6.3 allows between them. Values are not
// decoded further; see TLV.Children, Walk and Find.
func DecodeTLVs(b []byte) ([]TLV, error) {
	var out []TLV
	err := scan(b, 0, func(t TLV, _ int) error {
		out = append(out, t)
		return nil
	})
	return out, err
}

// scan calls fn for each object of the sequence b; base is the offset of b in
// the caller's input, for error positions.
func scan(b []byte, base int, fn func(t TLV, off int) error) error {
	off := 0
	for off < len(b) {
		if isPadding(b[off]) {
			off++
			continue
		}
		t, n, err := decodeTLV(b[off:])
		if err != nil {
			return &TLVError{Offset: base + off, Err: err}
		}
		// The value starts n-len(Value) bytes into the object.
		if err := fn(t, base+off+n-len(t.Value)); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// Walk visits every data object of b in document order, descending into
// constructed objects (Tag.Constructed) up to MaxTLVDepth levels. depth is 0
// for the objects of b itself. A non-nil error from fn stops the walk and is
// returned. Walk allocates nothing unless it fails.
func Walk(b []byte, fn func(depth int, t TLV) error) error {
	return walk(b, 0, 0, fn)
}

func walk(b []byte, base, depth int, fn func(int, TLV) error) error {
	return scan(b, base, func(t TLV, valueOff int) error {
		if err := fn(depth, t); err != nil {
			return err
		}
		if !t.Tag.Constructed() || len(t.Value) == 0 {
			return nil
		}
		if depth+1 >= MaxTLVDepth {
			return &TLVError{Offset: valueOff, Err: ErrTLVTooDeep}
		}
		return walk(t.Value, valueOff, depth+1, fn)
	})
}

// errFound stops a walk early without allocating.
var errFound = errors.New("found")

// Find returns the first data object with the tag, searching b depth-first
// through constructed objects. It fails with ErrTLVNotFound when there is
// none, and with a *TLVError when b is malformed before the tag is reached.
func Find(b []byte, tag Tag) (TLV, error) {
	var found TLV
	err := Walk(b, func(_ int, t TLV) error {
		if t.Tag == tag {
			found = t
			return errFound
		}
		return nil
	})
	switch {
	case err == errFound:
		return found, nil
	case err != nil:
		return TLV{}, err
	}
	return TLV{}, fmt.Errorf("%w: %s", ErrTLVNotFound, tag)
}

// FindPath follows a path of tags from the top level of b: the first object
// tagged path[0], then within its value the first object tagged path[1], and
// so on. Each value along the path is decoded as BER-TLV whether or not its tag
// is marked constructed, so FindPath(obj, 0x53, 0x70) reaches the certificate
// in a PIV data object.
func FindPath(b []byte, path ...Tag) (TLV, error) {
	cur := TLV{Value: b}
	base := 0
	for i, tag := range path {
		var next TLV
		found := false
		err := scan(cur.Value, base, func(t TLV, valueOff int) error {
			if t.Tag == tag {
				next, found, base = t, true, valueOff
				return errFound
			}
			return nil
		})
		if err != nil && err != errFound {
			return TLV{}, err
		}
		if !found {
			return TLV{}, fmt.Errorf("%w: %s, step %d of the path", ErrTLVNotFound, tag, i+1)
		}
		cur = next
	}
	return cur, nil
}

// appendLength appends the BER length of n in its shortest form.
func appendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xFFFFFF:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// maxTLVValue is the longest value the 0x84 length form can describe.
const maxTLVValue = 1<<32 - 1

// AppendTLV appends one data object to dst, with the length in its shortest
// form. It fails with ErrTLVTag for an invalid tag and ErrTLVLength for a
// value longer than the 0x84 form allows.
func AppendTLV(dst []byte, tag Tag, value []byte) ([]byte, error) {
	if !tag.Valid() {
		return dst, fmt.Errorf("%w: %s", ErrTLVTag, tag)
	}
	if uint64(len(value)) > maxTLVValue {
		return dst, fmt.Errorf("%w: %d-byte value", ErrTLVLength, len(value))
	}
	dst = tag.appendTo(dst)
	dst = appendLength(dst, len(value))
	return append(dst, value...), nil
}

// TLVBuilder encodes a sequence of data objects, nested ones included. The
// first error sticks: later calls do nothing and Bytes returns it, so a
// message can be built without checking every step.
//
//	var b apdu.TLVBuilder
//	b.AddConstructed(0x7C, func(b *apdu.TLVBuilder) {
//		b.Add(0x82, nil)
//		b.Add(0x81, challenge)
//	})
//	data, err := b.Bytes()
type TLVBuilder struct {
	buf []byte
	err error
}

// Add appends a data object with the given value.
func (b *TLVBuilder) Add(tag Tag, value []byte) {
	if b.err != nil {
		return
	}
	b.buf, b.err = AppendTLV(b.buf, tag, value)
}

// AddConstructed appends a data object whose value is what fn adds to b.
// The tag need not have the constructed bit set (PIV's 53 does not).
func (b *TLVBuilder) AddConstructed(tag Tag, fn func(b *TLVBuilder)) {
	if b.err != nil {
		return
	}
	if !tag.Valid() {
		b.err = fmt.Errorf("%w: %s", ErrTLVTag, tag)
		return
	}
	b.buf = tag.appendTo(b.buf)
	start := len(b.buf)
	fn(b)
	if b.err != nil {
		return
	}
	n := len(b.buf) - start
	if uint64(n) > maxTLVValue {
		b.err = fmt.Errorf("%w: %d-byte value", ErrTLVLength, n)
		return
	}
	// The length precedes the value, which is known only now: insert it.
	var l [5]byte
	b.buf = slices.Insert(b.buf, start, appendLength(l[:0], n)...)
}

// AddRaw appends bytes that are already BER-TLV encoded.
func (b *TLVBuilder) AddRaw(encoded []byte) {
	if b.err != nil {
		return
	}
	b.buf = append(b.buf, encoded...)
}

// Bytes returns the encoding, or the first error.
func (b *TLVBuilder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.buf, nil
}
