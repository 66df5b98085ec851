package virtual

import (
	"context"

	"github.com/puce-id/puce/pcsc/apdu"
)

// Applet is an application on a virtual card, selected by its AID.
//
// The Card runtime does the transport work so that applets do not each redo
// it: it reassembles chained commands (CLA bit 0x10) into one Command with the
// whole data field, accepts extended-length APDUs when the card is configured
// for them, and hands out long answers piecewise — an applet returns all its
// response data, and the runtime sends what Ne allows (one response's worth
// when the command has no Le, as a T=1 card does) with 61xx and keeps the
// rest for GET RESPONSE. Selection by AID (SELECT 00 A4 04 xx), a plain
// SELECT of the master file and GET RESPONSE (C0) never reach Process.
//
// The card calls one method at a time, so an applet needs no locking for the
// calls the card makes. cmd.Data is only valid during the call: copy what the
// applet keeps.
type Applet interface {
	// AID is the applet's application identifier (5 to 16 bytes). A SELECT
	// with a leading part of it selects the applet (ISO/IEC 7816-4 §12.2.2,
	// partial DF name), as PIV's 5-byte SELECT does.
	AID() []byte
	// Select runs when a SELECT by AID picks the applet; it returns the answer
	// to SELECT (an FCI or application property template, or nothing). A
	// status other than 9000 or a warning (62xx, 63xx) leaves the previous
	// selection in place.
	Select(ctx context.Context, cmd apdu.Command) (apdu.Response, error)
	// Process runs every other command while the applet is selected. An error
	// that apdu.StatusWord maps (a *apdu.StatusError, apdu.ErrNotFound, …)
	// becomes that status word; any other error is logged and answered 6F00.
	Process(ctx context.Context, cmd apdu.Command) (apdu.Response, error)
}

// Resetter is implemented by applets with volatile state: PIN verified,
// session keys, a secure channel. The card calls Reset when it loses power or
// is reset — power off, reset or removal over vpcd, Card.Reset, Card.Remove,
// or a dropped connection — just as a real card forgets its security status.
type Resetter interface {
	Reset()
}

// Deselecter is implemented by applets that must drop state when another
// applet is selected.
type Deselecter interface {
	Deselect()
}

// ChainHandler is implemented by applets that answer chained commands block
// by block themselves instead of having the runtime reassemble them: the
// eMRTD applet's PACE steps, sent as a GENERAL AUTHENTICATE chain of
// commands that each need an answer.
type ChainHandler interface {
	HandlesChain(cmd apdu.Command) bool
}

// MasterFileHolder is implemented by the applet that also answers for the
// card's master file (MF), as a card's operating system does: after reset
// and after SELECT MF the MF is the current DF (ISO/IEC 7816-4 §7.1.1), and
// commands go to this applet in its MF context — EF.CardAccess read and
// PACE run there before any application is selected (ICAO 9303-11 §4.2). A
// card has at most one. Without one the runtime answers SELECT MF itself
// and refuses file commands at MF level.
type MasterFileHolder interface {
	Applet
	// SelectMF makes the MF current: a plain SELECT MF (00 A4 00 xx with no
	// data or 3F00), which ends any secure messaging as every plain command
	// does. The runtime then routes commands to Process until an
	// application is selected by AID.
	SelectMF(ctx context.Context, cmd apdu.Command) (apdu.Response, error)
}
