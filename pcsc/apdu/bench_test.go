package apdu_test

import (
	"bytes"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/virtual"
)

// benchObject is a PIV-like certificate object (53 { 70 cert, 71, FE })
// whose certificate holds nested constructed objects, so decoding has work to
// do at every level: about 4 KiB in all.
func benchObject(b *testing.B) []byte {
	var inner apdu.TLVBuilder
	for i := range 64 {
		inner.AddConstructed(0x30, func(t *apdu.TLVBuilder) {
			t.Add(0x06, []byte{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, byte(i)})
			t.AddConstructed(0xA0, func(t *apdu.TLVBuilder) {
				t.Add(0x04, bytes.Repeat([]byte{byte(i)}, 32))
			})
			t.Add(0x5F20, []byte("holder name"))
		})
	}
	cert, err := inner.Bytes()
	if err != nil {
		b.Fatal(err)
	}
	var obj apdu.TLVBuilder
	obj.AddConstructed(0x53, func(t *apdu.TLVBuilder) {
		t.AddConstructed(0x70, func(t *apdu.TLVBuilder) { t.AddRaw(cert) })
		t.Add(0x71, []byte{0})
		t.Add(0xFE, nil)
	})
	out, err := obj.Bytes()
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkTLVDecode walks every object of benchObject, all levels, through
// FindPath into the primitive 53 and Walk below it.
func BenchmarkTLVDecode(b *testing.B) {
	obj := benchObject(b)
	b.SetBytes(int64(len(obj)))
	b.ReportAllocs()
	for b.Loop() {
		cert, err := apdu.FindPath(obj, 0x53, 0x70)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		if err := apdu.Walk(cert.Value, func(int, apdu.TLV) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != 64*5 {
			b.Fatalf("visited %d objects", n)
		}
	}
}

// BenchmarkTLVCopy is the anchor for BenchmarkTLVDecode: a plain copy of the
// same bytes.
func BenchmarkTLVCopy(b *testing.B) {
	obj := benchObject(b)
	dst := make([]byte, len(obj))
	b.SetBytes(int64(len(obj)))
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, obj)
	}
}

// BenchmarkRoundTripInProcess is one APDU exchanged through Client with the
// virtual card in-process: encoding, card runtime, applet, parsing.
func BenchmarkRoundTripInProcess(b *testing.B) {
	c, _, _ := echoClient(b, false)
	cmd := apdu.Command{INS: virtual.EchoINSEcho, Data: bytes.Repeat([]byte{0x5A}, 32), Ne: 256}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Do(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetResponseInProcess fetches 4 KiB through 61xx and GET RESPONSE
// (17 APDUs) from the in-process virtual card.
func BenchmarkGetResponseInProcess(b *testing.B) {
	c, _, _ := echoClient(b, false)
	cmd := apdu.Command{INS: virtual.EchoINSGenerate, P1: 0x10, P2: 0x00, Ne: 256}
	ctx := b.Context()
	b.SetBytes(4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Do(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}
