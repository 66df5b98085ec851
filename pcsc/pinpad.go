package pcsc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Feature is a PC/SC part 10 reader feature tag, as listed by the
// CM_IOCTL_GET_FEATURE_REQUEST control (PC/SC part 10 v2.02, §2.2).
type Feature byte

// Reader features puce uses or reports.
const (
	FeatureVerifyPINDirect   Feature = 0x06 // the reader's PIN pad verifies a PIN
	FeatureModifyPINDirect   Feature = 0x07 // the reader's PIN pad changes a PIN
	FeatureIFDPINProperties  Feature = 0x0A // display and PIN entry properties
	FeatureGetTLVProperties  Feature = 0x12 // reader properties as TLV (part 10 §2.6.14)
	FeatureExecutePACE       Feature = 0x20 // the reader runs PACE itself
	FeatureCCIDEscapeCommand Feature = 0x13 // vendor escape commands
)

// Features maps each feature a reader offers to the control code that
// invokes it through SCardControl.
type Features map[Feature]uint32

// Has reports whether the reader offers f.
func (f Features) Has(feat Feature) bool {
	_, ok := f[feat]
	return ok
}

// ErrFeatureList reports a malformed answer to the feature request.
var ErrFeatureList = errors.New("pcsc: malformed reader feature list")

// parseFeatures decodes the answer to CM_IOCTL_GET_FEATURE_REQUEST: TLV
// entries of a one-byte tag, the length 4 and the control code in big-endian
// order (PC/SC part 10 §2.2, whatever the host's byte order).
func parseFeatures(b []byte) (Features, error) {
	f := Features{}
	for len(b) > 0 {
		if len(b) < 2 || int(b[1]) != 4 || len(b) < 6 {
			return nil, fmt.Errorf("%w: entry % X", ErrFeatureList, b)
		}
		f[Feature(b[0])] = binary.BigEndian.Uint32(b[2:6])
		b = b[6:]
	}
	return f, nil
}

// parseTLVProperties decodes FEATURE_GET_TLV_PROPERTIES (PC/SC part 10
// §2.6.14): a one-byte tag, a one-byte length, and a little-endian value.
func parseTLVProperties(b []byte) (map[byte][]byte, error) {
	p := map[byte][]byte{}
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return nil, fmt.Errorf("%w: TLV property % X", ErrFeatureList, b)
		}
		p[b[0]] = b[2 : 2+int(b[1])]
		b = b[2+int(b[1]):]
	}
	return p, nil
}

// propMaxAPDUDataSize is the TLV property dwMaxAPDUDataSize: 0 for a reader
// that passes only short APDUs, else the largest data field it passes.
const propMaxAPDUDataSize = 0x0A

// Features lists the reader's part 10 features. A reader without any (most
// readers without a PIN pad, and virtual readers) gives an empty map and no
// error. The list is asked once per connection.
func (c *Card) Features(ctx context.Context) (Features, error) {
	var f Features
	err := c.hold(ctx, "feature request", func(tx *Tx) error {
		var err error
		f, err = tx.features(ctx)
		return err
	})
	return f, err
}

// hold runs fn with the card's semaphore held but no PC/SC transaction:
// control codes need none.
func (c *Card) hold(ctx context.Context, op string, fn func(tx *Tx) error) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctxErr(ctx, op)
	}
	tx := &Tx{c: c}
	defer func() {
		tx.done = true
		if tx.pending != nil {
			go func() { <-tx.pending; <-c.sem }()
			return
		}
		<-c.sem
	}()
	if c.closed {
		return fmt.Errorf("pcsc: %s: %w", op, ErrClosed)
	}
	return fn(tx)
}

func (t *Tx) features(ctx context.Context) (Features, error) {
	c := t.c
	if c.features != nil {
		return c.features, nil
	}
	var out []byte
	err := t.call(ctx, "feature request", func() error {
		var err error
		out, err = c.h.Control(ioctlGetFeatureRequest, nil)
		return err
	})
	switch {
	case errors.Is(err, ErrUnsupported) || controlUnsupported(err):
		c.features = Features{}
		return c.features, nil
	case err != nil:
		return nil, err
	}
	f, err := parseFeatures(out)
	if err != nil {
		return nil, err
	}
	c.features = f
	return f, nil
}

// maxAPDUData asks the reader's dwMaxAPDUDataSize; ok is false when the
// reader does not say. Used while connecting, before the Card is shared.
func (c *Card) maxAPDUData(ctx context.Context) (n int, ok bool) {
	tx := &Tx{c: c}
	f, err := tx.features(ctx)
	if err != nil || !f.Has(FeatureGetTLVProperties) {
		return 0, false
	}
	out, err := c.h.Control(f[FeatureGetTLVProperties], nil)
	if err != nil {
		return 0, false
	}
	props, err := parseTLVProperties(out)
	if err != nil {
		return 0, false
	}
	v, found := props[propMaxAPDUDataSize]
	if !found || len(v) == 0 || len(v) > 4 {
		return 0, false
	}
	var b [4]byte
	copy(b[:], v)
	return int(binary.LittleEndian.Uint32(b[:])), true
}

// PINFormat is how the reader writes the digits into the PIN block
// (bmFormatString bits 1-0).
type PINFormat uint8

const (
	PINBinary PINFormat = 0 // one digit per unit, as its value
	PINBCD    PINFormat = 1 // two digits per byte
	PINASCII  PINFormat = 2 // one digit per byte, as '0' to '9'
)

// Entry validation conditions (bEntryValidationCondition), which may be
// combined.
const (
	ValidateMaxDigits = 0x01 // entry ends when MaxDigits digits are typed
	ValidateKey       = 0x02 // entry ends when the holder presses OK
	ValidateTimeout   = 0x04 // entry ends at the timeout
)

// PINPad describes how the reader's PIN pad fills the PIN into the command
// template for FEATURE_VERIFY_PIN_DIRECT (PC/SC part 10 §2.5.2,
// PIN_VERIFY_STRUCTURE). The PIN itself never reaches the host.
//
// For PIV (NIST SP 800-73-4): template 00 20 00 80 08 FF×8, Format
// PINASCII, PINOffset 0, BlockSize 8, MinDigits 6, MaxDigits 8, the pad
// bytes FF staying where no digit was typed.
type PINPad struct {
	// Timeout bounds the whole entry (whole seconds, at most 255); 0 lets
	// the reader choose.
	Timeout time.Duration
	// FirstKeyTimeout bounds the entry once the first key is pressed; 0
	// lets the reader choose.
	FirstKeyTimeout time.Duration
	// Format of the digits in the block.
	Format PINFormat
	// RightJustify puts the digits at the end of the block instead of the
	// start.
	RightJustify bool
	// PINOffset is where the PIN block starts in the command's data field,
	// in bytes (0 to 15).
	PINOffset int
	// BlockSize is the PIN block's size in bytes (0 to 15).
	BlockSize int
	// LengthBits is the size in bits of a PIN length field the reader fills
	// in (0 to 15; 0 for none, as in PIV), and LengthOffset its position in
	// bits from the start of the data field (0 to 15), as in ISO 9564
	// format 2 blocks (LengthBits 4, LengthOffset 4).
	LengthBits, LengthOffset int
	// MinDigits and MaxDigits bound the PIN's length (0 to 255).
	MinDigits, MaxDigits int
	// Validation says when the entry ends (Validate…); ValidateKey when 0.
	Validation byte
	// LangID is the language of the reader's prompts (a Windows LANGID);
	// 0x0409, English (United States), when 0.
	LangID uint16
}

// verifyStructure builds the PIN_VERIFY_STRUCTURE for template, with the
// multi-byte fields in little-endian order as CCID carries them.
func (p PINPad) verifyStructure(template []byte) ([]byte, error) {
	for _, f := range [...]struct {
		name     string
		v, limit int
	}{
		{"PINOffset", p.PINOffset, 15}, {"BlockSize", p.BlockSize, 15},
		{"LengthBits", p.LengthBits, 15}, {"LengthOffset", p.LengthOffset, 15},
		{"MinDigits", p.MinDigits, 255}, {"MaxDigits", p.MaxDigits, 255},
		{"Timeout seconds", int(p.Timeout / time.Second), 255},
		{"FirstKeyTimeout seconds", int(p.FirstKeyTimeout / time.Second), 255},
	} {
		if f.v < 0 || f.v > f.limit {
			return nil, fmt.Errorf("pcsc: PIN pad %s %d outside 0 to %d", f.name, f.v, f.limit)
		}
	}
	if p.Format > PINASCII {
		return nil, fmt.Errorf("pcsc: PIN pad format %d unknown", p.Format)
	}
	if p.MinDigits > p.MaxDigits {
		return nil, fmt.Errorf("pcsc: PIN pad MinDigits %d above MaxDigits %d", p.MinDigits, p.MaxDigits)
	}
	cmd, extended, err := apdu.ParseCommand(template)
	if err != nil {
		return nil, fmt.Errorf("pcsc: PIN pad template: %w", err)
	}
	if extended {
		return nil, fmt.Errorf("pcsc: PIN pad template: %w: use a short APDU", apdu.ErrCommandLength)
	}
	if len(cmd.Data) < p.PINOffset+p.BlockSize {
		return nil, fmt.Errorf("pcsc: PIN pad template has %d data bytes, the PIN block needs %d", len(cmd.Data), p.PINOffset+p.BlockSize)
	}
	format := byte(0x80) | byte(p.PINOffset)<<3 | byte(p.Format) // bit 8: PIN position counted in bytes
	if p.RightJustify {
		format |= 0x04
	}
	validation := p.Validation
	if validation == 0 {
		validation = ValidateKey
	}
	lang := p.LangID
	if lang == 0 {
		lang = 0x0409
	}
	s := make([]byte, 0, 19+len(template))
	s = append(s,
		byte(p.Timeout/time.Second),             // bTimerOut
		byte(p.FirstKeyTimeout/time.Second),     // bTimerOut2
		format,                                  // bmFormatString
		byte(p.LengthBits)<<4|byte(p.BlockSize), // bmPINBlockString
		byte(p.LengthOffset),                    // bmPINLengthFormat: bit 5 clear, position in bits
		byte(p.MaxDigits), byte(p.MinDigits),    // wPINMaxExtraDigit 0xXXYY: XX minimum, YY maximum
		validation,                // bEntryValidationCondition
		0x01,                      // bNumberMessage: the reader's one prompt
		byte(lang), byte(lang>>8), // wLangId
		0x00,             // bMsgIndex
		0x00, 0x00, 0x00, // bTeoPrologue: filled in by the reader for T=1
	)
	s = binary.LittleEndian.AppendUint32(s, uint32(len(template))) // ulDataLength
	return append(s, template...), nil
}

// VerifyPINDirect has the holder type the PIN on the reader's PIN pad
// (FEATURE_VERIFY_PIN_DIRECT): the reader fills the PIN into template (a
// VERIFY command whose PIN block holds padding) and sends it to the card,
// so the PIN never reaches the host. It runs in a transaction of its own.
//
// It returns nil when the card accepts the PIN; a *apdu.WrongPINError (tries
// left) or another apdu status error when the card refuses it; ErrTimeout
// when nobody typed in time, ErrCancelled when the holder pressed Cancel;
// ErrUnsupported when the reader has no PIN pad. Like every PIN command it is
// never repeated automatically.
func (c *Card) VerifyPINDirect(ctx context.Context, template []byte, p PINPad) error {
	return c.transaction(ctx, "verify PIN on the PIN pad", func(tx *Tx) error {
		return tx.VerifyPINDirect(ctx, template, p)
	})
}

// VerifyPINDirect is Card.VerifyPINDirect within the transaction.
func (t *Tx) VerifyPINDirect(ctx context.Context, template []byte, p PINPad) error {
	if t.done {
		return fmt.Errorf("pcsc: Tx used after its transaction: %w", ErrClosed)
	}
	s, err := p.verifyStructure(template)
	if err != nil {
		return err
	}
	f, err := t.features(ctx)
	if err != nil {
		return err
	}
	code, ok := f[FeatureVerifyPINDirect]
	if !ok {
		return fmt.Errorf("pcsc: verify PIN on the PIN pad of %q: %w: the reader has no PIN pad (FEATURE_VERIFY_PIN_DIRECT); ask for the PIN on the host instead",
			t.c.reader, ErrUnsupported)
	}
	var out []byte
	err = t.call(ctx, "verify PIN on the PIN pad", func() error {
		var err error
		out, err = t.c.h.Control(code, s)
		return err
	})
	if errors.Is(err, ErrCardReset) && t.pending == nil {
		// The PIN was not asked for; make the card usable again and let
		// the caller ask the holder again.
		if rerr := t.c.reconnect(ctx, t); rerr == nil {
			_ = t.c.reselect(ctx, t) // a failure shows at the next command
		}
		return err
	}
	if err != nil {
		return t.c.refine(ctx, t, "verify PIN on the PIN pad", err)
	}
	return pinPadResult(out)
}

// pinPadResult interprets the reader's answer to a PIN pad command: the
// card's status word, or the reader's own 64xx (PC/SC part 10 §2.5.2).
func pinPadResult(out []byte) error {
	r, err := apdu.ParseResponse(out)
	if err != nil {
		return fmt.Errorf("pcsc: PIN pad answer: %w", err)
	}
	switch r.SW {
	case 0x6400:
		return fmt.Errorf("%w: no PIN was entered on the PIN pad in time", ErrTimeout)
	case 0x6401:
		return fmt.Errorf("%w: the holder pressed Cancel on the PIN pad", ErrCancelled)
	case 0x6403:
		return fmt.Errorf("pcsc: PIN pad: the PIN typed is too short or too long: %w", r.Err())
	case 0x6B80:
		return fmt.Errorf("pcsc: PIN pad refused the PIN_VERIFY_STRUCTURE (check PINPad): %w", r.Err())
	}
	return r.Err()
}
