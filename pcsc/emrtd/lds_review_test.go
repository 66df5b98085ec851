package emrtd

import (
	"errors"
	"testing"
)

// LDS files are BER-TLV (ICAO 9303-10 §4.6, ISO/IEC 7816-4 §5.2.2):
// lengths in short form and in long form 81 xx and 82 xx xx decode alike;
// the indefinite form 80, a length beyond the bytes present, a file cut
// short and a wrong outer tag are ErrMalformed, never a panic.
func TestDG1Encodings(t *testing.T) {
	mrz := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	inner := append([]byte{0x5F, 0x1F, 0x58}, mrz...)
	long := append([]byte{0x5F, 0x1F, 0x81, 0x58}, mrz...)
	for name, b := range map[string][]byte{
		"short":              append([]byte{0x61, 0x5B}, inner...),
		"outer 81":           append([]byte{0x61, 0x81, 0x5B}, inner...),
		"outer 82, inner 81": append([]byte{0x61, 0x82, 0x00, 0x5C}, long...),
		"issuer padding":     append(append([]byte{0x61, 0x5B}, inner...), 0x00, 0x00),
	} {
		m, err := ParseDG1(b)
		if err != nil || m.DocumentNumber != "L898902C3" {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"indefinite":   append(append([]byte{0x61, 0x80}, inner...), 0x00, 0x00),
		"too long":     append([]byte{0x61, 0x5C}, inner...),
		"cut short":    append([]byte{0x61, 0x5B}, inner[:40]...),
		"length 84":    append([]byte{0x61, 0x84, 0xFF, 0xFF, 0xFF, 0xFF}, inner...),
		"length 85":    append([]byte{0x61, 0x85, 0, 0, 0, 0, 0x5B}, inner...),
		"wrong tag":    append([]byte{0x75, 0x5B}, inner...),
		"no MRZ":       {0x61, 0x03, 0x5F, 0x20, 0x00},
		"empty":        {},
		"tag only":     {0x61},
		"MRZ too long": append([]byte{0x61, 0x5C, 0x5F, 0x1F, 0x59}, append([]byte(mrz), '<')...),
	} {
		if _, err := ParseDG1(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// The header of a file to be read in parts: tlvLength agrees.
	for _, c := range []struct {
		b    []byte
		want int
	}{{[]byte{0x61, 0x5B}, 0x5D}, {[]byte{0x77, 0x82, 0x01, 0x00}, 0x104}, {[]byte{0x7F, 0x61, 0x81, 0x80}, 0x84}} {
		if n, err := tlvLength(c.b); err != nil || n != c.want {
			t.Errorf("tlvLength(% X) = %d, %v; want %d", c.b, n, err, c.want)
		}
	}
	for _, b := range [][]byte{{0x61, 0x80}, {0x61}, {0x77, 0x84, 1, 0, 0, 0}, {0x7F}} {
		if _, err := tlvLength(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("tlvLength(% X): %v, want ErrMalformed", b, err)
		}
	}
}
