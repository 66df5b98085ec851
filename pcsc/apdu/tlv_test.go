package apdu

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// pivObject is a PIV certificate object as GET DATA returns it:
// 53 { 70 <cert>, 71 <certinfo>, FE <LRC> }.
func pivObject(cert []byte) []byte {
	var b TLVBuilder
	b.AddConstructed(0x53, func(b *TLVBuilder) {
		b.Add(0x70, cert)
		b.Add(0x71, []byte{0x00})
		b.Add(0xFE, nil)
	})
	out, err := b.Bytes()
	if err != nil {
		panic(err)
	}
	return out
}

func TestDecodeTLV(t *testing.T) {
	for _, tc := range []struct {
		in    string
		tag   Tag
		value string
		rest  string
	}{
		{"4F 05 A000000308 9000", 0x4F, "A000000308", "9000"},
		{"5C 03 5FC105", 0x5C, "5FC105", ""},
		{"5FC105 02 AABB", 0x5FC105, "AABB", ""},
		{"5F20 00", 0x5F20, "", ""},
		{"7F49 81 01 86", 0x7F49, "86", ""},
		{"70 82 0001 42 EE", 0x70, "42", "EE"},
		{"70 83 000001 42", 0x70, "42", ""},
		{"70 84 00000001 42", 0x70, "42", ""},
		{"DF8F7F 01 01", 0xDF8F7F, "01", ""},
		{"9F8F8F7F 00", 0x9F8F8F7F, "", ""},
	} {
		in := mustHex(t, tc.in)
		got, rest, err := DecodeTLV(in)
		if err != nil || got.Tag != tc.tag || !bytes.Equal(got.Value, mustHex(t, tc.value)) || !bytes.Equal(rest, mustHex(t, tc.rest)) {
			t.Errorf("DecodeTLV(%s) = %v %X rest %X, %v; want %v %s rest %s", tc.in, got.Tag, got.Value, rest, err, tc.tag, tc.value, tc.rest)
		}
	}
}

func TestDecodeTLVErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrTLVTruncated},
		{"5F", ErrTLVTruncated},
		{"5FC1", ErrTLVTruncated},
		{"4F", ErrTLVTruncated},
		{"4F 03 0102", ErrTLVTruncated},
		{"4F 81", ErrTLVTruncated},
		{"4F 82 01", ErrTLVTruncated},
		{"4F 84 FFFFFFFF 00", ErrTLVTruncated}, // absurd length
		{"4F 80 00 00", ErrTLVLength},          // indefinite
		{"4F 85 0000000001 00", ErrTLVLength},
		{"4F FF", ErrTLVLength},
		{"5F 81 82 83 04 00", ErrTLVTag}, // 5-byte tag
		{"00 01 01", ErrTLVTag},
		{"FF 01 01", ErrTLVTag},
	} {
		_, rest, err := DecodeTLV(mustHex(t, tc.in))
		var te *TLVError
		if !errors.Is(err, tc.want) || !errors.As(err, &te) {
			t.Errorf("DecodeTLV(%s) error = %v, want %v as *TLVError", tc.in, err, tc.want)
		}
		if !bytes.Equal(rest, mustHex(t, tc.in)) {
			t.Errorf("DecodeTLV(%s) consumed input on error", tc.in)
		}
	}
}

func TestDecodeTLVsPaddingAndOffsets(t *testing.T) {
	in := mustHex(t, "00 4F 01 AA FF FF 50 02 BBCC 00")
	got, err := DecodeTLVs(in)
	if err != nil || len(got) != 2 || got[0].Tag != 0x4F || got[1].Tag != 0x50 || !bytes.Equal(got[1].Value, []byte{0xBB, 0xCC}) {
		t.Fatalf("DecodeTLVs = %v, %v", got, err)
	}
	// The value is a view of the input, not a copy.
	in[8] = 0x11
	if got[1].Value[0] != 0x11 {
		t.Error("Value does not alias the input")
	}
	// Errors locate the faulty object.
	_, err = DecodeTLVs(mustHex(t, "4F 01 AA 50 05 01"))
	var te *TLVError
	if !errors.As(err, &te) || te.Offset != 3 || !errors.Is(err, ErrTLVTruncated) {
		t.Errorf("DecodeTLVs error = %v, want truncated at offset 3", err)
	}
	if !strings.Contains(err.Error(), "offset 3") {
		t.Errorf("message %q lacks the offset", err)
	}
}

func TestFind(t *testing.T) {
	cert := bytes.Repeat([]byte{0x30}, 300)
	obj := pivObject(cert)
	// 53 is primitive: Find does not look inside it, FindPath does.
	if _, err := Find(obj, 0x70); !errors.Is(err, ErrTLVNotFound) {
		t.Errorf("Find(0x70) in primitive 53: %v, want ErrTLVNotFound", err)
	}
	got, err := FindPath(obj, 0x53, 0x70)
	if err != nil || !bytes.Equal(got.Value, cert) {
		t.Fatalf("FindPath(53, 70) = %d bytes, %v", len(got.Value), err)
	}
	if _, err := FindPath(obj, 0x53, 0x72); !errors.Is(err, ErrTLVNotFound) {
		t.Errorf("FindPath(53, 72) = %v, want ErrTLVNotFound", err)
	}

	// GENERAL AUTHENTICATE answer: 7C (constructed) { 82 <signature> } after
	// another object.
	ga := mustHex(t, "01 01 00 7C 06 81 00 82 02 CAFE")
	got, err = Find(ga, 0x82)
	if err != nil || !bytes.Equal(got.Value, []byte{0xCA, 0xFE}) {
		t.Errorf("Find(82) = %X, %v", got.Value, err)
	}
	if _, err := Find(mustHex(t, "7C 05 82 09 00"), 0x99); !errors.Is(err, ErrTLVTruncated) {
		t.Errorf("Find in malformed input: %v, want ErrTLVTruncated", err)
	}
	// Error offsets are relative to the outermost input.
	var te *TLVError
	if _, err := Find(mustHex(t, "4F00 7C 05 82 09 00 00 00"), 0x99); !errors.As(err, &te) || te.Offset != 4 {
		t.Errorf("nested error %v, want offset 4", err)
	}
}

func TestWalkDepthLimit(t *testing.T) {
	// 40 nested 7C objects, innermost empty.
	in := []byte{}
	for range 40 {
		in = append([]byte{0x7C, byte(len(in))}, in...)
	}
	err := Walk(in, func(int, TLV) error { return nil })
	if !errors.Is(err, ErrTLVTooDeep) {
		t.Fatalf("Walk of 40 levels: %v, want ErrTLVTooDeep", err)
	}
	depth := 0
	if err := Walk(in[2*(40-MaxTLVDepth):], func(d int, _ TLV) error { depth = max(depth, d); return nil }); err != nil || depth != MaxTLVDepth-1 {
		t.Errorf("Walk of %d levels: max depth %d, %v", MaxTLVDepth, depth, err)
	}
	stop := errors.New("stop")
	n := 0
	if err := Walk(in, func(int, TLV) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Walk did not stop on the callback's error: %v after %d", err, n)
	}
}

func TestWalkAllocatesNothing(t *testing.T) {
	obj := mustHex(t, "7C 0B 82 02 CAFE 7F49 04 86 02 0102")
	allocs := testing.AllocsPerRun(100, func() {
		if err := Walk(obj, func(int, TLV) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := Find(obj, 0x86); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Walk and Find allocate %v times per run", allocs)
	}
}

func TestTagValid(t *testing.T) {
	for tag, want := range map[Tag]bool{
		0x4F: true, 0x7C: true, 0x5F20: true, 0x5FC105: true, 0x7F49: true, 0x9F8F8F7F: true, 0xFE: true,
		0x00: false, 0xFF: false, 0x1F: false, 0x5F: false, 0x4F01: false,
		0x5F80: false, 0x5FC1: false, 0x5F2001: false, 0xFF20: false,
	} {
		if got := tag.Valid(); got != want {
			t.Errorf("Tag(%s).Valid() = %v, want %v", tag, got, want)
		}
	}
	if !Tag(0x7C).Constructed() || Tag(0x53).Constructed() || !Tag(0x7F49).Constructed() || Tag(0x5F20).Constructed() {
		t.Error("Constructed() wrong")
	}
	if Tag(0x5FC105).Class() != 1 || Tag(0x81).Class() != 2 || Tag(0xFE).Class() != 3 || Tag(0x30).Class() != 0 {
		t.Error("Class() wrong")
	}
	if s := Tag(0x5FC105).String(); s != "5FC105" {
		t.Errorf("String() = %q", s)
	}
}

func TestTLVBuilder(t *testing.T) {
	var b TLVBuilder
	b.AddConstructed(0x7C, func(b *TLVBuilder) {
		b.Add(0x82, nil)
		b.Add(0x81, bytes.Repeat([]byte{0x11}, 200))
		b.AddConstructed(0xA0, func(b *TLVBuilder) { b.Add(0x80, []byte{1}) })
	})
	b.Add(0x5FC105, []byte{2})
	b.AddRaw([]byte{0x4F, 0x00})
	got, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, "7C 81 D2 8200 81 81 C8"+strings.Repeat("11", 200)+"A0 03 800101 5FC105 01 02 4F00")
	if !bytes.Equal(got, want) {
		t.Fatalf("builder = %X\nwant      %X", got, want)
	}
	for _, n := range []int{0, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000} {
		enc, err := AppendTLV(nil, 0x53, make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		dec, rest, err := DecodeTLV(enc)
		if err != nil || len(dec.Value) != n || len(rest) != 0 {
			t.Errorf("length %d does not round-trip: %v", n, err)
		}
	}

	var bad TLVBuilder
	bad.Add(0x4F, []byte{1})
	bad.Add(0x5F, nil) // incomplete two-byte tag
	bad.Add(0x4F, []byte{2})
	if _, err := bad.Bytes(); !errors.Is(err, ErrTLVTag) {
		t.Errorf("invalid tag: %v, want ErrTLVTag", err)
	}
	var badNested TLVBuilder
	badNested.AddConstructed(0x7C, func(b *TLVBuilder) { b.Add(0x00, nil) })
	if _, err := badNested.Bytes(); !errors.Is(err, ErrTLVTag) {
		t.Errorf("invalid nested tag: %v, want ErrTLVTag", err)
	}
	if _, err := AppendTLV(nil, 0x1F, nil); !errors.Is(err, ErrTLVTag) {
		t.Errorf("AppendTLV(1F): %v, want ErrTLVTag", err)
	}
}
