package pivapplet_test

import (
	"context"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
)

func newCard(t testing.TB) *virtual.Card {
	a, err := pivapplet.New(pivapplet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := virtual.NewCard(virtual.Config{}, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apdu.Do(context.Background(), c, apdu.Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStatusWords checks the card's answers to commands a careless or
// hostile host sends.
func TestStatusWords(t *testing.T) {
	ctx := context.Background()
	c := newCard(t)
	for _, tc := range []struct {
		name string
		cmd  apdu.Command
		sw   uint16
	}{
		{"GET DATA without tag list", apdu.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: []byte{0x01}, Ne: 256}, 0x6A80},
		{"GET DATA of an absent object", apdu.Command{INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: []byte{0x5C, 0x03, 0x5F, 0xC1, 0x05}, Ne: 256}, 0x6A82},
		{"VERIFY with a short PIN block", apdu.Command{INS: 0x20, P2: 0x80, Data: []byte{'1', '2', '3'}}, 0x6A80},
		{"VERIFY with a PIN under 6 characters", apdu.Command{INS: 0x20, P2: 0x80, Data: []byte{'1', '2', '3', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}, 0x6A80},
		{"VERIFY of an unknown reference", apdu.Command{INS: 0x20, P2: 0x99}, 0x6A88},
		{"PUT DATA without the management key", apdu.Command{INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: []byte{0x5C, 0x03, 0x5F, 0xC1, 0x05, 0x53, 0x00}}, 0x6982},
		{"GENERATE without the management key", apdu.Command{INS: 0x47, P2: 0x9A, Data: []byte{0xAC, 0x03, 0x80, 0x01, 0x11}}, 0x6982},
		{"sign with an empty slot", apdu.Command{INS: 0x87, P1: 0x11, P2: 0x9A, Data: []byte{0x7C, 0x02, 0x82, 0x00}, Ne: 256}, 0x6A88},
		{"management key step 2 without step 1", apdu.Command{INS: 0x87, P1: 0x03, P2: 0x9B, Data: []byte{0x7C, 0x14, 0x80, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x81, 0x08, 1, 2, 3, 4, 5, 6, 7, 8}, Ne: 256}, 0x6982},
		{"management key of another algorithm", apdu.Command{INS: 0x87, P1: 0x0C, P2: 0x9B, Data: []byte{0x7C, 0x02, 0x80, 0x00}, Ne: 256}, 0x6A80},
		{"vendor instruction on a plain card", apdu.Command{INS: 0xFD, Ne: 256}, 0x6D00},
		{"proprietary class", apdu.Command{CLA: 0x80, INS: 0xCB, P1: 0x3F, P2: 0xFF, Ne: 256}, 0x6E00},
	} {
		b, err := tc.cmd.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Transmit(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := apdu.ParseResponse(out)
		if err != nil || r.SW != tc.sw {
			t.Errorf("%s: SW %04X, want %04X (%v)", tc.name, r.SW, tc.sw, err)
		}
	}
}

// FuzzProcess sends arbitrary commands to the applet behind the card
// runtime: every one gets a status word, none panics.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, 0x5F, 0xC1, 0x05, 0x00})
	f.Add([]byte{0x00, 0x20, 0x00, 0x80, 0x08, '1', '2', '3', '4', '5', '6', 0xFF, 0xFF})
	f.Add([]byte{0x00, 0x87, 0x03, 0x9B, 0x04, 0x7C, 0x02, 0x80, 0x00, 0x00})
	f.Add([]byte{0x00, 0x87, 0x11, 0x9A, 0x06, 0x7C, 0x04, 0x82, 0x00, 0x81, 0x00, 0x00})
	f.Add([]byte{0x00, 0xF7, 0x00, 0x80, 0x00})
	a, _ := pivapplet.New(pivapplet.Config{Vendor: true})
	c, _ := virtual.NewCard(virtual.Config{}, a)
	ctx := context.Background()
	sel, _ := apdu.Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00, 0x00, 0x03, 0x08}, Ne: 256}.Bytes()
	f.Fuzz(func(t *testing.T, cmd []byte) {
		if _, err := c.Transmit(ctx, sel); err != nil {
			t.Fatal(err)
		}
		out, err := c.Transmit(ctx, cmd)
		if err != nil {
			t.Fatalf("transmit: %v", err)
		}
		if len(out) < 2 {
			t.Fatalf("answer without status word: %x", out)
		}
	})
}
