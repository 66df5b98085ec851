package apdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestCommandEncoding(t *testing.T) {
	d255 := bytes.Repeat([]byte{0xAB}, 255)
	d256 := bytes.Repeat([]byte{0xCD}, 256)
	for _, tc := range []struct {
		name     string
		cmd      Command
		short    string // "" when the short form must fail
		extended string
	}{
		{"case 1", Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00}, "00A40400", "00A40400"},
		{"case 2 Le 01", Command{INS: 0xC0, Ne: 1}, "00C0000001", "00C00000000001"},
		{"case 2 Le 256", Command{INS: 0xC0, Ne: 256}, "00C0000000", "00C00000000100"},
		{"case 2 Ne 257", Command{INS: 0xC0, Ne: 257}, "", "00C00000000101"},
		{"case 2 Ne 65536", Command{INS: 0xC0, Ne: 65536}, "", "00C00000000000"},
		{"case 3", Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: mustHex(t, "A000000308")}, "00A4040005A000000308", "00A404000000 05A000000308"},
		{"case 4", Command{INS: 0x87, P1: 0x11, P2: 0x9A, Data: []byte{1, 2}, Ne: 256}, "008711 9A 02 0102 00", "0087119A 00 0002 0102 0100"},
		{"case 4 Ne 65536", Command{INS: 0x87, Data: []byte{1}, Ne: 65536}, "", "00870000 00 0001 01 0000"},
		{"case 3 255", Command{INS: 0xDB, Data: d255}, "00DB0000FF" + strings.Repeat("AB", 255), "00DB0000 0000FF" + strings.Repeat("AB", 255)},
		{"case 3 256", Command{INS: 0xDB, Data: d256}, "", "00DB0000 000100" + strings.Repeat("CD", 256)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.cmd.AppendShort(nil)
			if tc.short == "" {
				if !errors.Is(err, ErrCommandLength) {
					t.Fatalf("AppendShort: got %X, %v; want ErrCommandLength", s, err)
				}
				if !tc.cmd.Extended() {
					t.Fatal("Extended() = false for a command that does not fit the short form")
				}
			} else {
				if err != nil || !bytes.Equal(s, mustHex(t, tc.short)) {
					t.Fatalf("AppendShort = %X, %v; want %s", s, err, tc.short)
				}
				if tc.cmd.Extended() {
					t.Fatal("Extended() = true for a command that fits the short form")
				}
			}
			e, err := tc.cmd.AppendExtended(nil)
			if err != nil || !bytes.Equal(e, mustHex(t, tc.extended)) {
				t.Fatalf("AppendExtended = %X, %v; want %s", e, err, tc.extended)
			}
			all, err := tc.cmd.Bytes()
			want := tc.short
			if want == "" {
				want = tc.extended
			}
			if err != nil || !bytes.Equal(all, mustHex(t, want)) {
				t.Fatalf("Bytes = %X, %v; want %s", all, err, want)
			}
			// Both encodings parse back to the command.
			for _, enc := range [][]byte{s, e} {
				if enc == nil {
					continue
				}
				got, _, err := ParseCommand(enc)
				if err != nil || !sameCommand(got, tc.cmd) {
					t.Fatalf("ParseCommand(%X) = %+v, %v; want %+v", enc, got, err, tc.cmd)
				}
			}
		})
	}
}

func sameCommand(a, b Command) bool {
	return a.CLA == b.CLA && a.INS == b.INS && a.P1 == b.P1 && a.P2 == b.P2 && a.Ne == b.Ne && bytes.Equal(a.Data, b.Data)
}

func TestCommandLimits(t *testing.T) {
	for _, c := range []Command{
		{Ne: -1},
		{Ne: MaxExtendedNe + 1},
		{Data: make([]byte, MaxExtendedData+1)},
	} {
		if _, err := c.AppendExtended(nil); !errors.Is(err, ErrCommandLength) {
			t.Errorf("AppendExtended(Ne %d, %d bytes) error = %v, want ErrCommandLength", c.Ne, len(c.Data), err)
		}
		if _, err := c.Bytes(); !errors.Is(err, ErrCommandLength) {
			t.Errorf("Bytes(Ne %d, %d bytes) error = %v, want ErrCommandLength", c.Ne, len(c.Data), err)
		}
	}
}

func TestParseCommandRejects(t *testing.T) {
	for _, s := range []string{
		"", "00", "00A404",
		"00A4040005A0000003",     // Lc 5, 4 data bytes
		"00A4040002A0000003",     // Lc 2, 4 body bytes beyond
		"00A4040000",             // case 2S Le 00: valid, checked below
		"00A404000000",           // 00 00: neither 2S nor 2E
		"00A40400000000",         // case 2E Le 0000: valid, checked below
		"00A4040000000001",       // extended Lc 0000 with more bytes
		"00A4040000000301020304", // Lc 3, 4 data bytes, not case 4E either
		"00A40400000002010203",   // 4E needs two Le bytes, not one
	} {
		b := mustHex(t, s)
		_, _, err := ParseCommand(b)
		valid := s == "00A4040000" || s == "00A40400000000"
		if valid != (err == nil) {
			t.Errorf("ParseCommand(%s) error = %v", s, err)
		}
		if err != nil && !errors.Is(err, ErrMalformedCommand) {
			t.Errorf("ParseCommand(%s) error = %v, want ErrMalformedCommand", s, err)
		}
	}
	c, ext, err := ParseCommand(mustHex(t, "00A40400000000"))
	if err != nil || !ext || c.Ne != 65536 || c.Data != nil {
		t.Errorf("case 2E Le 0000: %+v ext=%v err=%v, want Ne 65536 extended", c, ext, err)
	}
}

// Random commands survive encode then parse in both forms.
func TestCommandRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		c := Command{CLA: byte(r.Uint32()), INS: byte(r.Uint32()), P1: byte(r.Uint32()), P2: byte(r.Uint32())}
		if r.IntN(2) == 0 {
			c.Data = make([]byte, 1+r.IntN(400))
			for i := range c.Data {
				c.Data[i] = byte(r.Uint32())
			}
		}
		if r.IntN(2) == 0 {
			c.Ne = 1 + r.IntN(MaxExtendedNe)
		}
		b, err := c.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		got, ext, err := ParseCommand(b)
		if err != nil || !sameCommand(got, c) || ext != c.Extended() {
			t.Fatalf("round trip of %+v via %X: %+v ext=%v err=%v", c, b, got, ext, err)
		}
	}
}

func TestCommandStringRedactsPIN(t *testing.T) {
	c := Command{INS: 0x20, P2: 0x80, Data: []byte("12345678")}
	if s := c.String(); strings.Contains(s, "31 32") || !strings.Contains(s, "redacted") {
		t.Errorf("String() = %q shows the PIN", s)
	}
	c = Command{INS: 0xCB, Data: []byte{0x5C, 0x01, 0x7E}}
	if s := c.String(); !strings.Contains(s, "5C 01 7E") {
		t.Errorf("String() = %q hides ordinary data", s)
	}
}
