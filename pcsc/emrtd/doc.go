// Package emrtd reads the sovereign identity applet: the eMRTD application
// (LDS1) of ICAO Doc 9303 found in passports and EU identity cards, over any
// apdu.Transport — a PC/SC reader (package pcsc) or the in-process virtual
// card (pcsc/virtual/emrtdapplet). It is pure Go and depends on pcsc/apdu and
// cryptography only; no factor package imports it (DESIGN.md, "Sovereign
// separation").
//
// # Access
//
// Open opens the application with the holder's access key, a CAN or an
// MRZKey: PACE (ICAO 9303-11 §4.4; generic mapping over ECDH on the NIST and
// Brainpool curves of §9.5.1, 3DES or AES secure messaging) when
// EF.CardAccess offers it, Basic Access Control (§4.3, 3DES) otherwise. A
// refused key gives ErrAccessDenied before anything is read. Every later
// command goes through a SecureChannel, an apdu.Transport decorator that
// implements the secure messaging of §9.8 (DO'87'/DO'85', DO'97', DO'99',
// DO'8E', send sequence counter).
//
// Fingerprints (DG3) and irises (DG4) need EAC Terminal Authentication with a
// CV certificate chain, which this package does not implement: asking for them
// gives ErrNotAuthorised (which matches apdu.ErrSecurityStatus), as the chip
// would answer.
//
//	s, err := emrtd.Open(ctx, card, emrtd.CAN("123456"), nil)
//	rec, err := s.Read(ctx, &emrtd.ReadOptions{CSCAs: cscas})
//	switch {
//	case errors.Is(err, emrtd.ErrAccessDenied):
//		// ask the holder for the CAN again
//	case errors.Is(err, emrtd.ErrPassiveAuth):
//		// the data is not genuine: do not use rec
//	}
//	fmt.Println(rec.MRZ.PrimaryID, rec.Face().MIMEType)
//
// # Data and passive authentication
//
// Session.Read reads EF.COM, EF.SOD and the data groups EF.COM lists (DG1
// MRZ, DG2 face, DG11 personal details, DG12 document details, DG13 optional
// details, …), with extended-length READ BINARY when the reader and chip
// accept it, decodes them into a Record, and runs passive authentication
// (ICAO 9303-11 §5.1): the EF.SOD signature, the document signer certificate
// chained to the given CSCA certificates, and every data group's hash present
// in the security object and matching. Failures match ErrPassiveAuth and name
// the data group (DataGroupError): ErrHashMismatch for an altered group,
// ErrHashMissing for a group EF.SOD does not list.
//
// # Disclosure
//
// The holder chooses what to reveal: Record.Disclose packs the chosen data
// groups, as read, with EF.SOD; the receiver checks them with
// VerifyDisclosure against its CSCA certificates, passive authentication
// alone, without the chip or the access key.
//
// Secrets — the CAN, the MRZ key, session keys — never appear in errors or
// logs; CAN and MRZKey print as "redacted".
package emrtd
