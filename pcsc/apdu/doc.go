// Package apdu speaks ISO/IEC 7816-4 to a smart card over any Transport: it
// encodes command APDUs in short and extended form, parses response APDUs,
// turns status words into errors that callers test with errors.Is and
// errors.As, and decodes and encodes BER-TLV data objects.
//
// It is pure Go with no dependency beyond the standard library, so the card
// clients (pcsc/piv, pcsc/emrtd) and the virtual card (pcsc/virtual) run without
// cgo and without a PC/SC daemon. The cgo package pcsc provides a Transport over
// real readers; pcsc/virtual provides one in-process.
//
// # Exchanging APDUs
//
// A Transport moves one command APDU and its response. Client adds what ISO
// 7816-4 leaves to the host:
//
//   - 61xx: more data waits; Client sends GET RESPONSE (00 C0 00 00 xx) until
//     the card has given everything and concatenates the data.
//   - 6Cxx: wrong Le; Client sends the same command again with Le = xx.
//   - Data longer than 255 bytes: extended length when the transport reports
//     it (ExtendedLengthCapable), command chaining (CLA bit 0x10) otherwise.
//
// Client.Send returns the final response whatever its status word;
// Client.Do returns its data on 9000 and the status as an error otherwise:
//
//	c := &apdu.Client{Transport: t}
//	data, err := c.Do(ctx, apdu.Command{CLA: 0x00, INS: 0xCB, P1: 0x3F, P2: 0xFF, Data: tagList, Ne: 256})
//	var wrong *apdu.WrongPINError
//	switch {
//	case errors.As(err, &wrong):
//		// ask the holder again, telling them wrong.TriesLeft
//	case errors.Is(err, apdu.ErrSecurityStatus):
//		// verify the PIN first
//	}
//
// # Transcripts never hold PINs
//
// Client.Trace receives every APDU sent and received, for debugging. The data
// field of the commands that carry reference data — VERIFY (INS 20, 21),
// CHANGE REFERENCE DATA (24, 25), RESET RETRY COUNTER (2C, 2D), ENABLE and
// DISABLE VERIFICATION REQUIREMENT (28, 26) — is cut off before the hook sees
// it: the hook gets only the four header bytes (see Redact). A PIN, PUK or new
// PIN therefore never reaches a log, whatever the hook does.
//
// # BER-TLV
//
// DecodeTLV, DecodeTLVs, Walk, Find and FindPath decode without copying: every
// TLV.Value is a sub-slice of the input. They never panic and report malformed
// input with a *TLVError that matches ErrTLVTruncated, ErrTLVTag, ErrTLVLength or
// ErrTLVTooDeep. TLVBuilder and AppendTLV encode, nesting included.
package apdu
