package emrtd

import (
	"bytes"
	"context"
	"crypto/aes"
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

// smResponse builds a response under the Appendix G.1 session keys with
// the counter ssc: the objects given, then DO'8E' over the counter and
// them (ICAO 9303-11 §9.8.5), unless mac is false.
func smResponse(t *testing.T, ssc []byte, objs [][]byte, withMAC bool, sw uint16) apdu.Response {
	t.Helper()
	_, mac := g1Keys(t)
	var body []byte
	for _, o := range objs {
		body = append(body, o...)
	}
	if withMAC {
		m, _ := mac(pad(append(bytes.Clone(ssc), body...), 16))
		body, _ = apdu.AppendTLV(body, 0x8E, m)
	}
	return apdu.Response{Data: body, SW: sw}
}

func g1Keys(t *testing.T) (enc interface{ Encrypt(dst, src []byte) }, mac macFunc) {
	t.Helper()
	e, err := aes.NewCipher(h(t, "F5F0E35C0D7161EE6724EE513A0D9A7F"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMAC(CipherAES128, h(t, "FE251C7858B356B24514B3BD5F4297D1"))
	if err != nil {
		t.Fatal(err)
	}
	return e, m
}

// Protected responses that break ICAO 9303-11 §9.8.5 (Figure 6): the order
// DO'87'/DO'85', DO'99', DO'8E' with DO'8E' last, DO'99' of two bytes and
// mandatory, the MAC of 8 bytes over the counter of this response, the
// padding-content indicator 01, padded plaintext. Each fails with
// ErrSecureMessaging; a bad padding under a valid MAC fails the same way
// as a bad MAC, so nothing tells an attacker which test failed that it
// could not compute itself.
func TestUnwrapRejects(t *testing.T) {
	enc, mac := g1Keys(t)
	blk, _ := aes.NewCipher(h(t, "F5F0E35C0D7161EE6724EE513A0D9A7F"))
	ssc := append(bytes.Repeat([]byte{0}, 15), 2)
	iv := make([]byte, 16)
	enc.Encrypt(iv, ssc)
	ct := cbcEncrypt(blk, iv, pad([]byte("DG1"), 16))
	noPad := cbcEncrypt(blk, iv, bytes.Repeat([]byte{0x41}, 16))
	do := func(tag apdu.Tag, v []byte) []byte { b, _ := apdu.AppendTLV(nil, tag, v); return b }
	d87 := do(0x87, append([]byte{1}, ct...))
	d99 := do(0x99, []byte{0x90, 0x00})
	good := smResponse(t, ssc, [][]byte{d87, d99}, true, 0x9000)
	if out, err := unwrapResponse(CipherAES128, blk, mac, bytes.Clone(ssc), good); err != nil || string(out.Data) != "DG1" || out.SW != 0x9000 {
		t.Fatalf("genuine response: %q %04X %v", out.Data, out.SW, err)
	}
	shortMAC := good
	shortMAC.Data = append(bytes.Clone(good.Data[:len(good.Data)-10]), 0x8E, 0x04, 1, 2, 3, 4)
	prev := append(bytes.Repeat([]byte{0}, 15), 1)
	for name, r := range map[string]apdu.Response{
		"DO'99' before DO'87'":       smResponse(t, ssc, [][]byte{d99, d87}, true, 0x9000),
		"object after DO'8E'":        {Data: append(bytes.Clone(good.Data), d99...), SW: 0x9000},
		"no DO'99'":                  smResponse(t, ssc, [][]byte{d87}, true, 0x9000),
		"no DO'8E'":                  smResponse(t, ssc, [][]byte{d87, d99}, false, 0x9000),
		"DO'99' of three bytes":      smResponse(t, ssc, [][]byte{d87, do(0x99, []byte{0x90, 0, 0})}, true, 0x9000),
		"two DO'99'":                 smResponse(t, ssc, [][]byte{d87, d99, d99}, true, 0x9000),
		"two DO'87'":                 smResponse(t, ssc, [][]byte{d87, d87, d99}, true, 0x9000),
		"indicator 02":               smResponse(t, ssc, [][]byte{do(0x87, append([]byte{2}, ct...)), d99}, true, 0x9000),
		"cryptogram of 15 bytes":     smResponse(t, ssc, [][]byte{do(0x87, append([]byte{1}, ct[:15]...)), d99}, true, 0x9000),
		"padding absent":             smResponse(t, ssc, [][]byte{do(0x87, append([]byte{1}, noPad...)), d99}, true, 0x9000),
		"MAC of 4 bytes":             shortMAC,
		"unknown object 81":          smResponse(t, ssc, [][]byte{do(0x81, []byte{1}), d99}, true, 0x9000),
		"previous response replayed": smResponse(t, prev, [][]byte{d87, d99}, true, 0x9000),
		"plain status word":          {SW: 0x6982},
		"plain 9000":                 {SW: 0x9000},
	} {
		if _, err := unwrapResponse(CipherAES128, blk, mac, bytes.Clone(ssc), r); !errors.Is(err, ErrSecureMessaging) {
			t.Errorf("%s: %v, want ErrSecureMessaging", name, err)
		}
	}
}

// The send sequence counter is an unsigned integer of the block size,
// incremented before each command and each response (ICAO 9303-11
// §9.8.2): a carry runs through every byte, and the largest value wraps
// to zero on both sides alike (the chip's runtime does the same).
func TestSSCIncrement(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"887022120C06C226", "887022120C06C227"}, // Appendix D.4's first SSC
		{"00000000000000FF", "0000000000000100"},
		{"00FFFFFFFFFFFFFF", "0100000000000000"},
		{"FFFFFFFFFFFFFFFF", "0000000000000000"},
		{"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "00000000000000000000000000000000"},
	} {
		ssc := h(t, c.in)
		incSSC(ssc)
		eq(t, c.in, ssc, h(t, c.want))
	}
}

// After a response fails its checks the channel refuses further use with
// ErrClosed, sending nothing: the counters no longer agree (ICAO 9303-11
// §9.8.5).
func TestChannelClosedAfterBadResponse(t *testing.T) {
	sent := 0
	tr := transportFunc(func(context.Context, []byte) ([]byte, error) {
		sent++
		return []byte{0x87, 0x01, 0x01, 0x99, 0x02, 0x90, 0x00, 0x8E, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00}, nil
	})
	ch, err := NewSecureChannel(tr, CipherAES128, h(t, "F5F0E35C0D7161EE6724EE513A0D9A7F"), h(t, "FE251C7858B356B24514B3BD5F4297D1"), make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Transmit(t.Context(), []byte{0x00, 0xB0, 0x81, 0x00, 0x04}); !errors.Is(err, ErrSecureMessaging) {
		t.Fatalf("forged response: %v", err)
	}
	if _, err := ch.Transmit(t.Context(), []byte{0x00, 0xB0, 0x81, 0x00, 0x04}); !errors.Is(err, ErrClosed) || sent != 1 {
		t.Fatalf("after a forged response: %v, %d APDUs sent", err, sent)
	}
}

type transportFunc func(context.Context, []byte) ([]byte, error)

func (f transportFunc) Transmit(ctx context.Context, cmd []byte) ([]byte, error) { return f(ctx, cmd) }
