package apdu_test

import (
	"bytes"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

func TestATRExtendedLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		atr  []byte
		want bool
	}{
		{"YubiKey 5", []byte{0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40}, true},
		{"capabilities without b7", []byte{0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x00, 0x00, 0x80, 0x00}, false},
		{"category 00 with status", []byte{0x3B, 0x88, 0x80, 0x01, 0x00, 0x73, 0xC0, 0x21, 0xC0, 0x00, 0x90, 0x00, 0x00}, true},
		{"category 00 too short", []byte{0x3B, 0x82, 0x80, 0x01, 0x00, 0x73, 0x00}, false},
		{"no historical bytes", []byte{0x3B, 0x00}, false},
		{"truncated", []byte{0x3B, 0xFD, 0x13}, false},
		{"TD chain past the end", []byte{0x3B, 0x80, 0x80}, false},
		{"compact-TLV overrun", []byte{0x3B, 0x83, 0x80, 0x01, 0x80, 0x7F, 0x00, 0x00}, false},
		{"empty", nil, false},
	} {
		if got := apdu.ATRExtendedLength(tc.atr); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzATR checks the ATR parser never panics or loops on outside bytes,
// and reads the historical bytes where ISO/IEC 7816-3 §8.2 puts them: K of
// them (the low nibble of T0), after the interface bytes, whatever follows
// (TCK, or garbage a reader appends); an ATR cut inside them is refused.
func FuzzATR(f *testing.F) {
	f.Add([]byte{0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40})
	f.Add([]byte{0x3B, 0x88, 0x80, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, atr []byte) {
		ext := apdu.ATRExtendedLength(atr)
		h, ok := apdu.ATRHistorical(atr)
		if !ok {
			if ext {
				t.Fatalf("%X: extended length without historical bytes", atr)
			}
			return
		}
		if len(h) != int(atr[1]&0x0F) {
			t.Fatalf("%X: %d historical bytes, T0 says %d", atr, len(h), atr[1]&0x0F)
		}
		if h2, ok2 := apdu.ATRHistorical(append(bytes.Clone(atr), 0xA5)); !ok2 || !bytes.Equal(h2, h) || apdu.ATRExtendedLength(append(bytes.Clone(atr), 0xA5)) != ext {
			t.Fatalf("%X: a byte after the ATR changed its historical bytes %X to %X", atr, h, h2)
		}
		if len(atr) > 64 {
			return // an ATR has at most 33 bytes; keep the prefix walk cheap
		}
		// Every prefix that holds the interface and historical bytes reads
		// the same historical bytes; a shorter one is refused.
		read := false
		for n := 0; n <= len(atr); n++ {
			hn, okn := apdu.ATRHistorical(atr[:n])
			switch {
			case okn && !bytes.Equal(hn, h):
				t.Fatalf("%X: prefix of %d bytes reads %X, the whole ATR %X", atr, n, hn, h)
			case okn:
				read = true
			case read:
				t.Fatalf("%X: prefix of %d bytes refused after a shorter one was read", atr, n)
			}
		}
	})
}
