package esign

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// TestBERToDER: X.690 §8.1.3.6 indefinite lengths become definite, a
// constructed OCTET STRING its primitive form (§10.2), long-form lengths
// minimal; DER passes unchanged.
func TestBERToDER(t *testing.T) {
	for _, c := range []struct{ ber, der []byte }{
		{[]byte{0x30, 0x80, 0x04, 0x03, 'a', 'b', 'c', 0x00, 0x00}, []byte{0x30, 0x05, 0x04, 0x03, 'a', 'b', 'c'}},
		{[]byte{0x24, 0x80, 0x04, 0x01, 'a', 0x04, 0x01, 'b', 0x00, 0x00}, []byte{0x04, 0x02, 'a', 'b'}},
		{[]byte{0xa0, 0x80, 0x24, 0x80, 0x04, 0x01, 'a', 0x00, 0x00, 0x00, 0x00}, []byte{0xa0, 0x03, 0x04, 0x01, 'a'}},
		{[]byte{0x04, 0x81, 0x02, 'a', 'b'}, []byte{0x04, 0x02, 'a', 'b'}},
		{[]byte{0x30, 0x03, 0x02, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
	} {
		got, err := berToDER(c.ber)
		if err != nil || !bytes.Equal(got, c.der) {
			t.Errorf("berToDER(% x) = % x, %v; want % x", c.ber, got, err, c.der)
		}
	}
	for _, bad := range [][]byte{{0x30, 0x80}, {0x04, 0x80, 0x00, 0x00}, {0x30, 0x05, 0x04}, {0x30, 0x80, 0x04, 0x01, 'a'}, nil} {
		if _, err := berToDER(bad); err == nil {
			t.Errorf("berToDER(% x) accepted", bad)
		}
	}
}

// FuzzBERToDER: never a panic; what it returns is one DER element that
// converts to itself.
func FuzzBERToDER(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x24, 0x80, 0x04, 0x01, 'a', 0x00, 0x00, 0x00, 0x00})
	f.Add([]byte{0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x05})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := berToDER(in)
		if err != nil {
			return
		}
		s := cryptobyte.String(out)
		var el cryptobyte.String
		if !s.ReadAnyASN1Element(&el, nil) || !s.Empty() {
			// cryptobyte refuses high tag numbers and some tags it does
			// not model; the re-encoding must still be stable.
			if again, err := berToDER(out); err != nil || !bytes.Equal(again, out) {
				t.Fatalf("% x -> % x, not stable", in, out)
			}
			return
		}
		if again, err := berToDER(out); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("% x -> % x -> % x, %v", in, out, again, err)
		}
	})
}
