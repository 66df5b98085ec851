package apdu

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Transport carries one command APDU to a card and returns its response APDU,
// status word included. It does nothing else: GET RESPONSE, re-sends and
// chaining are Client's job. Implementations: the cgo package pcsc over PC/SC
// readers, and pcsc/virtual in-process.
//
// Transmit must honour ctx; the response must be a slice the caller may keep.
type Transport interface {
	Transmit(ctx context.Context, command []byte) (response []byte, err error)
}

// ExtendedLengthCapable is implemented by a Transport that may report that
// the reader and card accept extended-length APDUs (ISO/IEC 7816-4 §5.1). A
// transport that does not implement it is treated as short-only.
type ExtendedLengthCapable interface {
	ExtendedLength() bool
}

// ErrProtocol reports a card that breaks the response protocol: more data than
// Client.MaxResponse through GET RESPONSE, or endless 61xx/6Cxx answers.
// Reset the card and start over.
var ErrProtocol = errors.New("apdu: card broke the response protocol")

// ErrCardRemoved is what transports wrap when the card left the reader in
// the middle of the work (pulled out, or its connection dropped), so that
// callers of any Transport can test for it. The card's volatile state is
// lost: wait for the card, then select the application and verify the PIN
// again.
var ErrCardRemoved = errors.New("apdu: card removed")

// ErrNoTransport reports a Client without a Transport.
var ErrNoTransport = errors.New("apdu: Client has no Transport")

// DefaultMaxResponse is the default cap on the data Client gathers for one
// command through GET RESPONSE.
const DefaultMaxResponse = 1 << 20

// Direction tells a TraceFunc which way an APDU travels.
type Direction uint8

const (
	// ToCard marks a command APDU.
	ToCard Direction = iota + 1
	// FromCard marks a response APDU.
	FromCard
)

func (d Direction) String() string {
	switch d {
	case ToCard:
		return "to card"
	case FromCard:
		return "from card"
	}
	return fmt.Sprintf("Direction(%d)", d)
}

// TraceFunc receives each APDU a Client exchanges, in order, as transmitted
// (chained blocks and GET RESPONSE commands included). Commands that carry
// PINs arrive redacted (see Redact). The bytes are only valid during the call.
type TraceFunc func(ctx context.Context, dir Direction, apdu []byte)

// SensitiveINS reports the instructions whose data field carries verification
// or reference data such as a PIN, PUK or new PIN (ISO/IEC 7816-4 §11.5):
// VERIFY (20, 21), CHANGE REFERENCE DATA (24, 25), DISABLE VERIFICATION
// REQUIREMENT (26), ENABLE VERIFICATION REQUIREMENT (28) and RESET RETRY
// COUNTER (2C, 2D).
func SensitiveINS(ins byte) bool {
	switch ins {
	case 0x20, 0x21, 0x24, 0x25, 0x26, 0x28, 0x2C, 0x2D:
		return true
	}
	return false
}

// Redact returns the part of a command APDU that may be logged: the whole
// command, except for SensitiveINS instructions, of which only the four header
// bytes remain, so that neither the PIN nor its length shows. It does not
// copy.
func Redact(command []byte) []byte {
	if len(command) > 4 && SensitiveINS(command[1]) {
		return command[:4:4]
	}
	return command
}

// SlogTrace returns a TraceFunc that logs each APDU at debug level on l, in
// hex, redacted as the Client hands it over.
func SlogTrace(l *slog.Logger) TraceFunc {
	return func(ctx context.Context, dir Direction, apdu []byte) {
		if !l.Enabled(ctx, slog.LevelDebug) {
			return
		}
		attrs := []slog.Attr{slog.String("dir", dir.String()), slog.String("apdu", hex.EncodeToString(apdu))}
		if dir == ToCard && len(apdu) >= 2 && SensitiveINS(apdu[1]) {
			attrs = append(attrs, slog.Bool("redacted", true))
		}
		l.LogAttrs(ctx, slog.LevelDebug, "apdu", attrs...)
	}
}

// Client exchanges commands over a Transport and does what ISO/IEC 7816-4
// leaves to the host: GET RESPONSE on 61xx, re-send on 6Cxx, extended length
// or command chaining for long data. A Client holds no state between calls and
// may be shared; the Transport decides whether calls may overlap.
type Client struct {
	Transport Transport
	// Trace, when set, sees every APDU exchanged, PINs redacted.
	Trace TraceFunc
	// MaxResponse caps the response data gathered through GET RESPONSE;
	// 0 means DefaultMaxResponse.
	MaxResponse int
}

// Do sends cmd and returns the response data when the card answers 9000, and
// the status word as an error otherwise (StatusErr).
func (c *Client) Do(ctx context.Context, cmd Command) ([]byte, error) {
	r, err := c.Send(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%02X %02X %02X %02X: %w", cmd.CLA, cmd.INS, cmd.P1, cmd.P2, err)
	}
	return r.Data, nil
}

// Do is (&Client{Transport: t}).Do(ctx, cmd).
func Do(ctx context.Context, t Transport, cmd Command) ([]byte, error) {
	return (&Client{Transport: t}).Do(ctx, cmd)
}

// Send sends cmd and returns the card's final response, whatever its status
// word; the error reports only transport and protocol failures.
//
// When cmd needs the extended form (Command.Extended) and the Transport
// reports extended length, cmd goes as one extended APDU. Otherwise data
// beyond 255 bytes are sent by command chaining (ISO/IEC 7816-4 §5.3.3): blocks
// of 255 bytes with CLA bit 0x10 on every block but the last, Ne on the last
// one only, capped at 256; the rest of a larger answer comes through GET
// RESPONSE. If the card refuses a chained block, Send returns that block's
// response. Chaining needs an interindustry class (CLA below 0x80, §5.4.1).
func (c *Client) Send(ctx context.Context, cmd Command) (Response, error) {
	if c.Transport == nil {
		return Response{}, ErrNoTransport
	}
	ext := false
	if e, ok := c.Transport.(ExtendedLengthCapable); ok {
		ext = e.ExtendedLength()
	}
	if cmd.Ne < 0 || cmd.Ne > MaxExtendedNe || len(cmd.Data) > MaxExtendedData {
		return Response{}, fmt.Errorf("%w: %d data bytes, Ne %d", ErrCommandLength, len(cmd.Data), cmd.Ne)
	}
	if cmd.Extended() && !ext {
		if len(cmd.Data) > MaxShortData {
			if cmd.CLA&0x80 != 0 {
				return Response{}, fmt.Errorf("%w: %d data bytes need chaining, which proprietary class %02X does not define, or extended length, which the transport lacks",
					ErrCommandLength, len(cmd.Data), cmd.CLA)
			}
			for len(cmd.Data) > MaxShortData {
				block := Command{CLA: cmd.CLA | 0x10, INS: cmd.INS, P1: cmd.P1, P2: cmd.P2, Data: cmd.Data[:MaxShortData]}
				r, err := c.exchange(ctx, block, false)
				if err != nil {
					return Response{}, err
				}
				if r.SW != SWOK {
					return r, nil
				}
				cmd.Data = cmd.Data[MaxShortData:]
			}
		}
		cmd.Ne = min(cmd.Ne, MaxShortNe)
	}
	r, err := c.exchange(ctx, cmd, ext)
	if err != nil {
		return Response{}, err
	}
	// 6Cxx: the card wants exactly Le = xx (ISO/IEC 7816-4 §5.6, and the T=0
	// case 2 procedure of ISO/IEC 7816-3 §12.2.2). One re-send only: a card
	// that answers 6Cxx again gets its status passed up.
	if r.SW1() == 0x6C {
		cmd.Ne = shortNe(r.SW2())
		if r, err = c.exchange(ctx, cmd, ext); err != nil {
			return Response{}, err
		}
	}
	return c.collect(ctx, cmd.CLA, r)
}

// collect follows 61xx answers with GET RESPONSE until the card is done.
func (c *Client) collect(ctx context.Context, cla byte, r Response) (Response, error) {
	if r.SW1() != 0x61 {
		return r, nil
	}
	limit := c.MaxResponse
	if limit <= 0 {
		limit = DefaultMaxResponse
	}
	data := append([]byte(nil), r.Data...)
	getResponse := Command{CLA: getResponseCLA(cla), INS: 0xC0}
	resent := false
	for r.SW1() == 0x61 || (r.SW1() == 0x6C && !resent) {
		resent = r.SW1() == 0x6C
		// SW2 = 00 means 256 bytes or more (ISO/IEC 7816-4 §5.6).
		getResponse.Ne = shortNe(r.SW2())
		var err error
		if r, err = c.exchange(ctx, getResponse, false); err != nil {
			return Response{}, err
		}
		if len(data)+len(r.Data) > limit {
			return Response{}, fmt.Errorf("%w: more than %d bytes through GET RESPONSE", ErrProtocol, limit)
		}
		data = append(data, r.Data...)
		if len(r.Data) == 0 && r.SW1() == 0x61 {
			// A card that offers data and gives none would loop forever.
			return Response{}, fmt.Errorf("%w: GET RESPONSE returned no data and 61%02X", ErrProtocol, r.SW2())
		}
	}
	return Response{Data: data, SW: r.SW}, nil
}

// getResponseCLA keeps the logical channel of the command's class for GET
// RESPONSE and drops chaining and secure messaging (ISO/IEC 7816-4 §5.4.1):
// channels 0-3 live in bits 2-1 of the first interindustry classes, channels
// 4-19 in bits 4-1 of the further ones (bit 7 set). Proprietary classes get 00.
func getResponseCLA(cla byte) byte {
	switch {
	case cla&0x80 != 0:
		return 0x00
	case cla&0x40 != 0:
		return cla & 0x4F
	}
	return cla & 0x03
}

// exchange encodes, traces, transmits and parses one APDU.
func (c *Client) exchange(ctx context.Context, cmd Command, ext bool) (Response, error) {
	var raw []byte
	var err error
	if ext && cmd.Extended() {
		raw, err = cmd.AppendExtended(make([]byte, 0, 4+3+len(cmd.Data)+2))
	} else {
		raw, err = cmd.AppendShort(make([]byte, 0, 4+1+len(cmd.Data)+1))
	}
	if err != nil {
		return Response{}, err
	}
	if c.Trace != nil {
		c.Trace(ctx, ToCard, Redact(raw))
	}
	out, err := c.Transport.Transmit(ctx, raw)
	if err != nil {
		return Response{}, fmt.Errorf("apdu: transmit %02X %02X %02X %02X: %w", cmd.CLA, cmd.INS, cmd.P1, cmd.P2, err)
	}
	if c.Trace != nil {
		c.Trace(ctx, FromCard, out)
	}
	return ParseResponse(out)
}

// PINPadRequest asks a reader's PIN pad to fill a PIN into a VERIFY
// command: the holder types on the reader and the PIN never reaches the
// host. Template is the command with a PIN block of padding at Offset.
type PINPadRequest struct {
	Template []byte
	// Offset and BlockSize locate the PIN block in the data field, in
	// bytes; the PIN goes in as ASCII digits, left-justified, the padding
	// staying where no digit was typed (the PIV format).
	Offset, BlockSize int
	// MinDigits and MaxDigits bound the PIN's length.
	MinDigits, MaxDigits int
	// Timeout bounds the entry; 0 lets the reader choose.
	Timeout time.Duration
}

// PINPadVerifier is implemented by transports whose reader has a PIN pad
// (package pcsc's Card), so that card applications, which see only a
// Transport, can use it. VerifyOnPINPad returns nil when the card accepts
// the PIN, the card's status as an error otherwise (a *WrongPINError with
// the tries left), and an error matching ErrNoPINPad when the reader has
// none.
type PINPadVerifier interface {
	VerifyOnPINPad(ctx context.Context, req PINPadRequest) error
}

// PINPadChecker is implemented by transports that can say, before asking
// for a PIN, whether their reader has a PIN pad (package pcsc's Card), so
// that a program shows "type your PIN on the reader" rather than a PIN
// field. A transport without it is taken to have none.
type PINPadChecker interface {
	HasPINPad(ctx context.Context) bool
}

// ErrNoPINPad: the reader has no PIN pad; ask for the PIN on screen.
var ErrNoPINPad = errors.New("apdu: the reader has no PIN pad")
