package virtual

import (
	"bytes"
	"context"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Instructions of EchoApplet (class 00). Each forces one path of the
// transport protocol so that a client, a reader stack or pcscd can be tested
// against it.
const (
	// EchoINSEcho returns the command data: long data exercises command
	// chaining or extended length on the way in, and 61xx with GET RESPONSE
	// on the way out.
	EchoINSEcho byte = 0xE1
	// EchoINSGenerate returns P1P2 (big-endian) bytes counting 00, 01, …,
	// FF, 00, …: a large answer that must come through GET RESPONSE unless Ne
	// covers it.
	EchoINSGenerate byte = 0xE2
	// EchoINSExactLe returns P1P2 bytes (1 to 256) as EchoINSGenerate does,
	// but only when Le asks for exactly that many; otherwise it answers 6Cxx,
	// xx the right Le, as a T=0 card does.
	EchoINSExactLe byte = 0xE3
	// EchoINSCounter counts the commands since the last reset and returns the
	// count in one byte: volatile state that power off, reset and removal
	// clear.
	EchoINSCounter byte = 0xE4
	// EchoINSStatus answers the status word P1P2 with no data.
	EchoINSStatus byte = 0xE5
	// EchoINSSecret returns the bytes "secret" once the PIN is verified and
	// 6982 before.
	EchoINSSecret byte = 0xE6
)

// EchoPIN is EchoApplet's PIN.
const EchoPIN = "123456"

// echoTries is the number of wrong PINs EchoApplet tolerates.
const echoTries = 3

// EchoAID returns EchoApplet's AID: F0, the category of unregistered
// proprietary identifiers (ISO/IEC 7816-4 §12.2.3), then "puceECHO".
func EchoAID() []byte { return []byte{0xF0, 'p', 'u', 'c', 'e', 'E', 'C', 'H', 'O'} }

// EchoApplet is a test applet that forces each path of ISO/IEC 7816-4
// transport (see the EchoINS instructions) and holds a PIN with a retry
// counter for testing status errors: VERIFY 00 20 00 80 with EchoPIN as data;
// an empty VERIFY reports the state (9000, or 63Cx with the tries left); three
// wrong PINs block it (6983). Whether the PIN is verified is volatile state;
// the tries left are not.
type EchoApplet struct {
	tries    int
	verified bool
	counter  byte
}

// NewEchoApplet returns an EchoApplet with all its PIN tries left.
func NewEchoApplet() *EchoApplet { return &EchoApplet{tries: echoTries} }

// AID implements Applet.
func (e *EchoApplet) AID() []byte { return EchoAID() }

// Select implements Applet: it answers the application template 61 { 4F AID }.
func (e *EchoApplet) Select(context.Context, apdu.Command) (apdu.Response, error) {
	var b apdu.TLVBuilder
	b.AddConstructed(0x61, func(b *apdu.TLVBuilder) { b.Add(0x4F, EchoAID()) })
	data, err := b.Bytes()
	return apdu.Response{Data: data, SW: apdu.SWOK}, err
}

// Reset implements Resetter: it forgets the PIN verification and the count.
func (e *EchoApplet) Reset() {
	e.verified = false
	e.counter = 0
}

// Process implements Applet.
func (e *EchoApplet) Process(_ context.Context, cmd apdu.Command) (apdu.Response, error) {
	if cmd.CLA != 0x00 {
		return apdu.Status(apdu.SWCLANotSupported), nil
	}
	n := int(cmd.P1)<<8 | int(cmd.P2)
	switch cmd.INS {
	case EchoINSEcho:
		return apdu.Response{Data: bytes.Clone(cmd.Data), SW: apdu.SWOK}, nil
	case EchoINSGenerate:
		return apdu.Response{Data: pattern(n), SW: apdu.SWOK}, nil
	case EchoINSExactLe:
		if n < 1 || n > apdu.MaxShortNe {
			return apdu.Status(apdu.SWWrongP1P2), nil
		}
		if cmd.Ne != n {
			return apdu.Status(0x6C00 | uint16(n&0xFF)), nil
		}
		return apdu.Response{Data: pattern(n), SW: apdu.SWOK}, nil
	case EchoINSCounter:
		e.counter++
		return apdu.Response{Data: []byte{e.counter}, SW: apdu.SWOK}, nil
	case EchoINSStatus:
		return apdu.Status(uint16(n)), nil
	case EchoINSSecret:
		if !e.verified {
			return apdu.Response{}, apdu.ErrSecurityStatus
		}
		return apdu.Response{Data: []byte("secret"), SW: apdu.SWOK}, nil
	case 0x20:
		return e.verify(cmd), nil
	}
	return apdu.Status(apdu.SWINSNotSupported), nil
}

// verify follows ISO/IEC 7816-4 §11.5.6 VERIFY with the PIV conventions.
func (e *EchoApplet) verify(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0x00 || cmd.P2 != 0x80 {
		return apdu.Status(apdu.SWReferencedDataNotFound)
	}
	if e.tries == 0 {
		return apdu.Status(apdu.SWBlocked)
	}
	if len(cmd.Data) == 0 {
		if e.verified {
			return apdu.Status(apdu.SWOK)
		}
		return apdu.Status(0x63C0 | uint16(e.tries))
	}
	if string(cmd.Data) != EchoPIN {
		e.verified = false
		e.tries--
		return apdu.Status(0x63C0 | uint16(e.tries))
	}
	e.verified = true
	e.tries = echoTries
	return apdu.Status(apdu.SWOK)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}
