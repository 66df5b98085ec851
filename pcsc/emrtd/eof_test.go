package emrtd_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// A chip whose file ends before the length its outer TLV announces answers
// 6282 to the READ BINARY that reaches the end (ISO/IEC 7816-4 (2020)
// §11.2.3, Table 6): the chip has said there is nothing more, so the reader
// stops there with ErrMalformed, matching the status word too, and sends no
// further READ BINARY. An empty file (6282 and no data at offset 0) is
// malformed the same way. B0 with the offset in P1-P2 and, past 7FFF, B1
// with DO'54' (extended length).
func TestReadEndOfFileBeforeTLV(t *testing.T) {
	tlv := func(total, have int) []byte {
		var b []byte
		switch {
		case total < 0x100:
			b = []byte{0x6B, 0x81, byte(total)}
		case total < 0x10000:
			b = []byte{0x6B, 0x82, byte(total >> 8), byte(total)}
		default:
			b = []byte{0x6B, 0x83, byte(total >> 16), byte(total >> 8), byte(total)}
		}
		return append(b, bytes.Repeat([]byte{0x5A}, have-len(b))...)
	}
	for _, c := range []struct {
		name string
		ext  bool
		file []byte
		want []string
	}{
		{"one read", false, tlv(500, 100), []string{"0CB08B00 6282"}},
		{"third read", false, tlv(2000, 600), []string{"0CB08B00 9000", "0CB000DF 9000", "0CB001BE 6282"}},
		{"empty", false, []byte{}, []string{"0CB08B00 6282"}},
		{"odd instruction", true, tlv(70000, 66000), []string{"0CB08B00 9000", "0CB07FFF 9000", "0CB10000 6282"}},
		// The file ends where the first B1 reads: 6282 and no DO'53'.
		{"odd instruction at the end", true, tlv(70000, 65534), []string{"0CB08B00 9000", "0CB07FFF 9000", "0CB10000 6282"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{PACEParameterID: 12})
			if err != nil {
				t.Fatal(err)
			}
			p.Applet.ReplaceFile(0x010B, c.file)
			card, err := virtual.NewCard(virtual.Config{ExtendedLength: c.ext}, p.Applet)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{card: card}
			s, err := emrtd.Open(t.Context(), rec, emrtd.CAN(p.CAN), nil)
			if err != nil {
				t.Fatal(err)
			}
			rec.log = nil
			b, err := s.ReadDataGroup(t.Context(), emrtd.DG11)
			if b != nil || !errors.Is(err, emrtd.ErrMalformed) || !errors.Is(err, &apdu.StatusError{SW: 0x6282}) {
				t.Errorf("ReadDataGroup: %d bytes, %v; want ErrMalformed and 6282", len(b), err)
			}
			if fmt.Sprint(rec.log) != fmt.Sprint(c.want) {
				t.Errorf("APDUs:\n got  %v\n want %v", rec.log, c.want)
			}
			// The session goes on: the next file reads.
			if _, err := s.ReadDataGroup(t.Context(), emrtd.DG1); err != nil {
				t.Errorf("DG1 after: %v", err)
			}
		})
	}
}

// A file that ends where its TLV says, with the last READ BINARY asking
// for exactly what remains, ends on 9000; one whose first READ BINARY
// asks for more than the whole file ends on 6282 with all of it: both read
// whole, with no further command.
func TestReadEndOfFileExact(t *testing.T) {
	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), &emrtdapplet.Options{PACEParameterID: 12})
	if err != nil {
		t.Fatal(err)
	}
	long := append([]byte{0x6B, 0x82, 0x01, 0xF4}, bytes.Repeat([]byte{0x5A}, 500)...)
	p.Applet.ReplaceFile(0x010B, long)
	card, err := virtual.NewCard(virtual.Config{}, p.Applet)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{card: card}
	s, err := emrtd.Open(t.Context(), rec, emrtd.CAN(p.CAN), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.log = nil
	if b, err := s.ReadDataGroup(t.Context(), emrtd.DG11); err != nil || !bytes.Equal(b, long) {
		t.Fatalf("DG11: %v", err)
	}
	if b, err := s.ReadDataGroup(t.Context(), emrtd.DG1); err != nil || !bytes.Equal(b, p.Applet.File(0x0101)) {
		t.Fatalf("DG1: %v", err)
	}
	want := []string{"0CB08B00 9000", "0CB000DF 9000", "0CB001BE 9000", "0CB08100 6282"}
	if fmt.Sprint(rec.log) != fmt.Sprint(want) {
		t.Errorf("APDUs:\n got  %v\n want %v", rec.log, want)
	}
}
