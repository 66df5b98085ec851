// Package virtual is a virtual smart card for tests and demonstrations: a card
// runtime that holds applets selected by AID behind an ATR, usable in-process
// as an apdu.Transport and attachable to the real PC/SC daemon through the
// vsmartcard vpcd driver (Bridge).
//
// The runtime does the transport work of ISO/IEC 7816-4 once for every
// applet: SELECT by AID, SELECT of the master file, command chaining, extended
// length (when Config.ExtendedLength is set), and GET RESPONSE for answers
// longer than Ne. Its default ATR announces what it does (card capabilities
// in the historical bytes: chaining, and extended length exactly when
// accepted), so that hosts which read it choose right. The master file is current after reset, as on any ISO/IEC
// 7816-4 card; an applet that implements MasterFileHolder (the eMRTD applet:
// EF.CardAccess and PACE live there) answers for it.
// Applets (PIV and eMRTD in sibling packages, EchoApplet here) implement only
// their instructions, and Resetter for state a power cycle must clear.
//
// Integrators test failure handling with fault injection: Card.Remove and
// Card.Insert pull the card out and put it back, Card.SetDelay slows every
// APDU, Card.Inject answers a status word (for the next N commands, or those a
// predicate picks) or drops the connection in the middle of an exchange.
//
// In-process:
//
//	card, err := virtual.NewCard(virtual.Config{}, virtual.NewEchoApplet())
//	c := &apdu.Client{Transport: card}
//
// Through pcscd (reader "Virtual PCD 00 00"), until ctx ends:
//
//	err := (&virtual.Bridge{Card: card}).Run(ctx)
//
// The package depends on pcsc/apdu and the standard library only, and
// builds without cgo.
package virtual
