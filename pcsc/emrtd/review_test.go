package emrtd_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/emrtd"
	"github.com/puce-id/puce/pcsc/virtual/emrtdapplet"
)

// rewriter passes commands to a virtual card and lets a test replace the
// answer to chosen commands; it keeps every command header sent.
type rewriter struct {
	f       *fixture
	headers [][4]byte
	answer  func(cmd, resp []byte) []byte
}

func (r *rewriter) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) >= 4 {
		r.headers = append(r.headers, [4]byte(cmd[:4]))
	}
	resp, err := r.f.tr.Transmit(ctx, cmd)
	if err != nil || r.answer == nil {
		return resp, err
	}
	return r.answer(cmd, resp), nil
}

func (r *rewriter) ExtendedLength() bool { return r.f.tr.ExtendedLength() }

func (r *rewriter) sent(ins byte) bool {
	for _, h := range r.headers {
		if h[1] == ins {
			return true
		}
	}
	return false
}

// Once the chip has seen the PACE mutual authentication token, which the
// holder's password keyed, any refusal is a refusal of that password: a
// chip answering 6985 or 6A88 instead of 6300 (BSI TR-03110-3 §B.11.1 lists
// both for GENERAL AUTHENTICATE) must not be asked again with the same MRZ
// through BAC, which would count a second wrong attempt the holder never
// made (ICAO 9303-11 §4.2: BAC only for a chip without usable PACE).
func TestPACERefusedTokenNoBACRetry(t *testing.T) {
	ctx := context.Background()
	for _, sw := range []uint16{0x6985, 0x6A88, 0x6984, 0x6983} {
		f := newFixture(t, true, &emrtdapplet.Options{})
		r := &rewriter{f: f, answer: func(cmd, resp []byte) []byte {
			// The last GENERAL AUTHENTICATE of PACE: class 00, no chaining.
			if cmd[0] == 0x00 && cmd[1] == 0x86 {
				return []byte{byte(sw >> 8), byte(sw)}
			}
			return resp
		}}
		_, err := emrtd.Open(ctx, r, f.key, nil)
		if r.sent(0x82) || r.sent(0x84) {
			t.Errorf("%04X: BAC tried with the same MRZ after PACE's token was refused (%v)", sw, err)
		}
		if !errors.Is(err, emrtd.ErrAccessDenied) {
			t.Errorf("%04X: %v, want ErrAccessDenied", sw, err)
		}
	}
}

var _ = bytes.Equal
var _ = apdu.SWOK
