package emrtdapplet

import (
	"bytes"
	"context"
	"testing"

	"github.com/puce-id/puce/pcsc/virtual"
)

// FuzzAppletAPDUs sends a sequence of APDUs — outside bytes from any
// reader — to a virtual card holding a personalised eMRTD applet, fresh
// from reset (the MF current): SELECT of the MF, its files and the
// application, READ BINARY by identifier and offset, PACE and BAC steps.
// The input is a series of APDUs, each after a length byte. Every APDU must
// get a response with a status word, never a panic, and EF.COM and EF.SOD
// never leave the card in answer to a plain command. Seeds live in
// testdata/fuzz/FuzzAppletAPDUs.
func FuzzAppletAPDUs(f *testing.F) {
	fuzzApplet(f, &Options{Issuer: testIssuer(f), CAN: "123456"})
}

// FuzzAppletPACEDHAPDUs is FuzzAppletAPDUs on a chip with PACE over DH
// (1024-bit group): the reader's DH public values are outside data the chip
// validates. Seeds: the first steps of ICAO 9303-11 Appendix G.2 and
// hostile keys (testdata/fuzz/FuzzAppletPACEDHAPDUs).
func FuzzAppletPACEDHAPDUs(f *testing.F) {
	fuzzApplet(f, &Options{Issuer: testIssuer(f), CAN: "123456", PACEDH: true})
}

func fuzzApplet(f *testing.F, opts *Options) {
	p, err := Personalise(SampleProfile(), opts)
	if err != nil {
		f.Fatal(err)
	}
	p.Applet.ReplaceFile(0x0102, []byte{0x75, 0x00}) // DG2 small: keep the fuzzer fast
	c, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c.Reset()
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n > len(in) {
				n = len(in)
			}
			cmd := in[:n]
			in = in[n:]
			resp, err := c.Transmit(context.Background(), cmd)
			if err != nil || len(resp) < 2 {
				t.Fatalf("Transmit(%X) = %X, %v", cmd, resp, err)
			}
			// EF.COM and EF.SOD start 60 and 77: neither may leave the
			// card without PACE or BAC (plain commands only here, so the
			// answer would be plain too), with 9000 or with 6282 (the end
			// of the file before Ne bytes).
			if sw := resp[len(resp)-2:]; (bytes.Equal(sw, []byte{0x90, 0x00}) || bytes.Equal(sw, []byte{0x62, 0x82})) && len(resp) > 2 && len(cmd) > 1 && cmd[1] == 0xB0 && cmd[0]&0x0C == 0 &&
				(resp[0] == 0x60 || resp[0] == 0x77) {
				t.Fatalf("plain READ BINARY %X returned an access-controlled file: %X", cmd, resp)
			}
		}
	})
}
