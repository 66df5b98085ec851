package apdu

import (
	"errors"
	"fmt"
)

// Limits of the two encodings of ISO/IEC 7816-4 §5.1 (command-response pairs).
const (
	// MaxShortData is the largest data field (Nc) of a short command APDU.
	MaxShortData = 255
	// MaxShortNe is the largest Ne of a short command APDU (Le = 00).
	MaxShortNe = 256
	// MaxExtendedData is the largest data field of an extended command APDU.
	MaxExtendedData = 65535
	// MaxExtendedNe is the largest Ne of an extended command APDU (Le = 0000).
	MaxExtendedNe = 65536
)

// ErrCommandLength reports a command that cannot be encoded: a data field or Ne
// beyond the limits of the requested form, or a negative Ne. Shorten the data
// (chain it, see Client) or ask for less.
var ErrCommandLength = errors.New("apdu: command data or Ne out of range for this encoding")

// ErrMalformedCommand reports command APDU bytes whose Lc/Le fields do not match
// their length (ISO/IEC 7816-4 §5.1). A card answers such a command with 6700.
var ErrMalformedCommand = errors.New("apdu: malformed command APDU")

// Command is a command APDU: the header CLA INS P1 P2, the data field, and Ne,
// the maximum number of response data bytes expected.
//
// The four cases of ISO/IEC 7816-4 §5.1 follow from Data and Ne:
// case 1 has neither, case 2 only Ne, case 3 only Data, case 4 both.
type Command struct {
	CLA, INS, P1, P2 byte
	// Data is the command data field (Nc = len(Data) bytes); nil or empty for
	// cases 1 and 2.
	Data []byte
	// Ne is the maximum number of response data bytes expected, 0 for none
	// (no Le field). Ne = 256 encodes as the short Le 00, Ne = 65536 as the
	// extended Le 0000.
	Ne int
}

// Extended reports whether c needs the extended encoding: a data field longer
// than 255 bytes or Ne above 256.
func (c Command) Extended() bool {
	return len(c.Data) > MaxShortData || c.Ne > MaxShortNe
}

// Bytes encodes c in the short form when it fits and in the extended form
// otherwise.
func (c Command) Bytes() ([]byte, error) {
	n := 4 + len(c.Data) + 3 + 2
	if c.Extended() {
		return c.AppendExtended(make([]byte, 0, n))
	}
	return c.AppendShort(make([]byte, 0, n))
}

// AppendShort appends the short encoding of c to dst: Lc and Le one byte each
// (ISO/IEC 7816-4 §5.1). It fails with ErrCommandLength when c needs the
// extended form.
func (c Command) AppendShort(dst []byte) ([]byte, error) {
	if c.Ne < 0 || c.Ne > MaxShortNe || len(c.Data) > MaxShortData {
		return dst, fmt.Errorf("%w: short form holds at most %d data bytes and Ne %d (have %d and %d)",
			ErrCommandLength, MaxShortData, MaxShortNe, len(c.Data), c.Ne)
	}
	dst = append(dst, c.CLA, c.INS, c.P1, c.P2)
	if len(c.Data) > 0 {
		dst = append(dst, byte(len(c.Data)))
		dst = append(dst, c.Data...)
	}
	if c.Ne > 0 {
		dst = append(dst, byte(c.Ne)) // 256 wraps to 00, which means 256
	}
	return dst, nil
}

// AppendExtended appends the extended encoding of c to dst (ISO/IEC 7816-4
// §5.1): a 00 byte, then Lc and Le on two bytes each; when Lc is present, Le
// follows without its own 00 byte. A case 1 command has no extended form and
// is encoded as its four header bytes.
func (c Command) AppendExtended(dst []byte) ([]byte, error) {
	if c.Ne < 0 || c.Ne > MaxExtendedNe || len(c.Data) > MaxExtendedData {
		return dst, fmt.Errorf("%w: extended form holds at most %d data bytes and Ne %d (have %d and %d)",
			ErrCommandLength, MaxExtendedData, MaxExtendedNe, len(c.Data), c.Ne)
	}
	dst = append(dst, c.CLA, c.INS, c.P1, c.P2)
	if len(c.Data) == 0 && c.Ne == 0 {
		return dst, nil
	}
	dst = append(dst, 0x00)
	if len(c.Data) > 0 {
		dst = append(dst, byte(len(c.Data)>>8), byte(len(c.Data)))
		dst = append(dst, c.Data...)
	}
	if c.Ne > 0 {
		dst = append(dst, byte(c.Ne>>8), byte(c.Ne)) // 65536 wraps to 0000
	}
	return dst, nil
}

// ParseCommand decodes a command APDU in short or extended form. Data aliases
// b. It reports whether the extended form was used, so that a card that does
// not support it can refuse the command.
func ParseCommand(b []byte) (cmd Command, extended bool, err error) {
	if len(b) < 4 {
		return Command{}, false, fmt.Errorf("%w: %d bytes, the header alone needs 4", ErrMalformedCommand, len(b))
	}
	cmd = Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return cmd, false, nil
	case len(body) == 1: // case 2S
		cmd.Ne = shortNe(body[0])
		return cmd, false, nil
	case body[0] != 0: // case 3S or 4S
		nc := int(body[0])
		switch len(body) {
		case 1 + nc:
			cmd.Data = body[1:]
		case 2 + nc:
			cmd.Data = body[1 : 1+nc]
			cmd.Ne = shortNe(body[1+nc])
		default:
			return Command{}, false, fmt.Errorf("%w: short Lc %d does not match %d body bytes", ErrMalformedCommand, nc, len(body))
		}
		return cmd, false, nil
	case len(body) == 3: // case 2E: 00 Le1 Le2
		cmd.Ne = extendedNe(body[1], body[2])
		return cmd, true, nil
	}
	if len(body) < 3 {
		return Command{}, false, fmt.Errorf("%w: %d body bytes starting with 00", ErrMalformedCommand, len(body))
	}
	nc := int(body[1])<<8 | int(body[2])
	if nc == 0 {
		return Command{}, false, fmt.Errorf("%w: extended Lc 0000", ErrMalformedCommand)
	}
	switch len(body) {
	case 3 + nc: // case 3E
		cmd.Data = body[3:]
	case 5 + nc: // case 4E
		cmd.Data = body[3 : 3+nc]
		cmd.Ne = extendedNe(body[3+nc], body[4+nc])
	default:
		return Command{}, false, fmt.Errorf("%w: extended Lc %d does not match %d body bytes", ErrMalformedCommand, nc, len(body))
	}
	return cmd, true, nil
}

func shortNe(le byte) int {
	if le == 0 {
		return MaxShortNe
	}
	return int(le)
}

func extendedNe(hi, lo byte) int {
	ne := int(hi)<<8 | int(lo)
	if ne == 0 {
		return MaxExtendedNe
	}
	return ne
}

// String shows the command for logs, with the data field of the commands that
// carry PINs hidden (see Redact).
func (c Command) String() string {
	if SensitiveINS(c.INS) {
		return fmt.Sprintf("%02X %02X %02X %02X [data redacted] Ne=%d", c.CLA, c.INS, c.P1, c.P2, c.Ne)
	}
	return fmt.Sprintf("%02X %02X %02X %02X [% X] Ne=%d", c.CLA, c.INS, c.P1, c.P2, c.Data, c.Ne)
}
