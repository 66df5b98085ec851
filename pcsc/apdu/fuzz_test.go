package apdu

import (
	"bytes"
	"errors"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>; `go test` runs them as
// regression tests, `go test -fuzz FuzzName` explores from them.

func FuzzParseResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if len(b) < 2 {
			if !errors.Is(err, ErrShortResponse) {
				t.Fatalf("ParseResponse(%X) error = %v, want ErrShortResponse", b, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseResponse(%X): %v", b, err)
		}
		if !bytes.Equal(r.Bytes(), b) {
			t.Fatalf("re-encoding %X gives %X", b, r.Bytes())
		}
		e := r.Err()
		if (e == nil) != (r.SW == SWOK) {
			t.Fatalf("SW %04X: Err() = %v", r.SW, e)
		}
		if e != nil {
			if sw, ok := StatusWord(e); !ok || sw != r.SW {
				t.Fatalf("StatusWord(Err()) = %04X, %v for SW %04X", sw, ok, r.SW)
			}
			_ = e.Error()
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ext, err := ParseCommand(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedCommand) {
				t.Fatalf("ParseCommand(%X) error = %v", b, err)
			}
			return
		}
		var enc []byte
		if ext {
			enc, err = c.AppendExtended(nil)
		} else {
			enc, err = c.AppendShort(nil)
		}
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("ParseCommand(%X) = %+v (extended %v), re-encoded %X, %v", b, c, ext, enc, err)
		}
	})
}

func FuzzDecodeTLV(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if tlv, rest, err := DecodeTLV(b); err == nil {
			if len(rest) >= len(b) || !tlv.Tag.Valid() {
				t.Fatalf("DecodeTLV(%X) = %v rest %X", b, tlv, rest)
			}
		} else if !isTLVError(err) {
			t.Fatalf("DecodeTLV(%X) error %v is not a *TLVError", b, err)
		}
		total := 0
		err := Walk(b, func(depth int, tlv TLV) error {
			if depth < 0 || depth >= MaxTLVDepth || len(tlv.Value) > len(b) {
				t.Fatalf("Walk visited depth %d, %d-byte value in %d bytes", depth, len(tlv.Value), len(b))
			}
			total++
			return nil
		})
		if err != nil && !isTLVError(err) {
			t.Fatalf("Walk(%X) error %v is not a *TLVError", b, err)
		}
		if err == nil && total > len(b)/2 {
			t.Fatalf("Walk visited %d objects in %d bytes", total, len(b))
		}
		if _, err := Find(b, 0x5FC105); err != nil && !errors.Is(err, ErrTLVNotFound) && !isTLVError(err) {
			t.Fatalf("Find: %v", err)
		}
		if _, err := FindPath(b, 0x53, 0x70); err != nil && !errors.Is(err, ErrTLVNotFound) && !isTLVError(err) {
			t.Fatalf("FindPath: %v", err)
		}
	})
}

// FuzzTLVRoundTrip decodes, re-encodes with TLVBuilder, and decodes again:
// the objects must be the same, nested ones included, and the encoding no
// longer than the input (the builder writes minimal lengths and no padding).
func FuzzTLVRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var first []visit
		if err := Walk(b, record(&first)); err != nil {
			return
		}
		top, err := DecodeTLVs(b)
		if err != nil {
			t.Fatalf("Walk accepts %X but DecodeTLVs fails: %v", b, err)
		}
		var bld TLVBuilder
		for _, tlv := range top {
			bld.Add(tlv.Tag, tlv.Value)
		}
		enc, err := bld.Bytes()
		if err != nil {
			t.Fatalf("re-encoding %X: %v", b, err)
		}
		if len(enc) > len(b) {
			t.Fatalf("re-encoding %X grew it to %X", b, enc)
		}
		var second []visit
		if err := Walk(enc, record(&second)); err != nil {
			t.Fatalf("re-encoded %X does not decode: %v", enc, err)
		}
		if len(first) != len(second) {
			t.Fatalf("%d objects before, %d after", len(first), len(second))
		}
		for i := range first {
			if first[i].depth != second[i].depth || first[i].tag != second[i].tag || !bytes.Equal(first[i].value, second[i].value) {
				t.Fatalf("object %d: %+v before, %+v after", i, first[i], second[i])
			}
		}
	})
}

type visit struct {
	depth int
	tag   Tag
	value []byte
}

func record(v *[]visit) func(int, TLV) error {
	return func(d int, t TLV) error {
		*v = append(*v, visit{d, t.Tag, t.Value})
		return nil
	}
}

func isTLVError(err error) bool {
	var te *TLVError
	return errors.As(err, &te) && (errors.Is(err, ErrTLVTruncated) || errors.Is(err, ErrTLVTag) ||
		errors.Is(err, ErrTLVLength) || errors.Is(err, ErrTLVTooDeep))
}
