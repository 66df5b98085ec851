package virtual

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
)

// FuzzReadFrame feeds arbitrary bytes to the vpcd frame reader, as a hostile
// or broken peer could: it must split them into frames whose lengths match
// their headers and end with io.EOF or ErrFrame, never panic.
func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		var buf []byte
		consumed := 0
		for {
			msg, err := readFrame(r, buf)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrFrame) {
					t.Fatalf("readFrame error %v", err)
				}
				if err == io.EOF && consumed != len(in) {
					t.Fatalf("io.EOF after %d of %d bytes", consumed, len(in))
				}
				return
			}
			if want := int(in[consumed])<<8 | int(in[consumed+1]); len(msg) != want || !bytes.Equal(msg, in[consumed+2:consumed+2+want]) {
				t.Fatalf("frame at %d: %X, header says %d bytes", consumed, msg, want)
			}
			consumed += 2 + len(msg)
			buf = msg[:0]
		}
	})
}

// mfEcho is an echo applet that also holds the master file, so that the
// fuzzer reaches the runtime's MF routing (SELECT MF, commands at MF level).
type mfEcho struct{ *EchoApplet }

func (m mfEcho) AID() []byte { return []byte{0xF0, 'p', 'u', 'c', 'e', 'M', 'F'} }

func (m mfEcho) SelectMF(ctx context.Context, cmd apdu.Command) (apdu.Response, error) {
	return apdu.Status(apdu.SWOK), nil
}

// FuzzCardTransmit plays a whole vpcd session against the card runtime: the
// input is split into frames, and each frame is a control message or an APDU
// sent to a card holding EchoApplet with extended length on, and, for odd
// lengths, an MF holder. Whatever the bytes, every APDU must get a response
// with a status word.
func FuzzCardTransmit(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		applets := []Applet{NewEchoApplet()}
		if len(in)%2 == 1 {
			applets = append(applets, mfEcho{NewEchoApplet()})
		}
		card, err := NewCard(Config{ExtendedLength: len(in)%2 == 0, MaxCommandData: 4096}, applets...)
		if err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(in)
		for {
			msg, err := readFrame(r, nil)
			if err != nil {
				return
			}
			if len(msg) < 2 {
				card.Reset()
				continue
			}
			resp, err := card.Transmit(context.Background(), msg)
			if err != nil || len(resp) < 2 {
				t.Fatalf("Transmit(%X) = %X, %v", msg, resp, err)
			}
			if len(resp) > 0xFFFF {
				t.Fatalf("response of %d bytes does not fit a vpcd frame", len(resp))
			}
		}
	})
}

// FuzzATRCapabilities feeds arbitrary ATRs to the card-capabilities reader
// NewCard uses on a configured ATR: it must never panic or read past the
// bytes it is given, and NewCard must answer ErrConfig or a card.
func FuzzATRCapabilities(f *testing.F) {
	f.Add(DefaultATR(false))
	f.Add(DefaultATR(true))
	f.Add([]byte{0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40})
	f.Add([]byte{0x3B, 0x88, 0x80, 0x01, 0x00, 0x73, 0xC0, 0x21, 0xC0, 0x00, 0x90, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, atr []byte) {
		ext := apdu.ATRExtendedLength(atr)
		_, err := NewCard(Config{ATR: atr})
		if ext && len(atr) >= 2 && len(atr) <= 33 && !errors.Is(err, ErrConfig) {
			t.Fatalf("ATR %X announces extended length, NewCard without it: %v", atr, err)
		}
		if _, err := NewCard(Config{ATR: atr, ExtendedLength: true}); err != nil && (len(atr) >= 2 && len(atr) <= 33) {
			t.Fatalf("ATR %X with ExtendedLength: %v", atr, err)
		}
	})
}
