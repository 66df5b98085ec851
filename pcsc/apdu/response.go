package apdu

import (
	"errors"
	"fmt"
)

// ErrShortResponse reports response bytes too short to hold the two status
// bytes SW1 SW2 (ISO/IEC 7816-4 §5.1). The reader or card misbehaved; retry the
// whole operation.
var ErrShortResponse = errors.New("apdu: response shorter than the 2 status bytes")

// Response is a response APDU: the data field and the status word SW1SW2.
type Response struct {
	Data []byte
	SW   uint16
}

// ParseResponse splits a response APDU into its data and status word. Data
// aliases b.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("%w: got %d bytes", ErrShortResponse, len(b))
	}
	n := len(b) - 2
	return Response{Data: b[:n:n], SW: uint16(b[n])<<8 | uint16(b[n+1])}, nil
}

// SW1 is the first status byte.
func (r Response) SW1() byte { return byte(r.SW >> 8) }

// SW2 is the second status byte.
func (r Response) SW2() byte { return byte(r.SW) }

// OK reports the status 9000.
func (r Response) OK() bool { return r.SW == SWOK }

// Err returns nil for 9000 and the status as an error otherwise (see
// StatusErr).
func (r Response) Err() error { return StatusErr(r.SW) }

// Bytes encodes the response APDU: the data followed by SW1 SW2.
func (r Response) Bytes() []byte {
	return r.AppendTo(make([]byte, 0, len(r.Data)+2))
}

// AppendTo appends the encoded response APDU to dst.
func (r Response) AppendTo(dst []byte) []byte {
	dst = append(dst, r.Data...)
	return append(dst, r.SW1(), r.SW2())
}

// Status returns a response with no data and the status word sw, for applets.
func Status(sw uint16) Response { return Response{SW: sw} }
