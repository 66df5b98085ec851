// Package emrtdapplet is the eMRTD (ICAO 9303 LDS1) application of puce's
// virtual card: the sovereign identity applet of a passport or identity card,
// for tests and demonstrations of pcsc/emrtd and other eMRTD readers.
//
// Personalise builds it from a holder Profile: EF.CardAccess announcing PACE
// (generic mapping over ECDH on a NIST or Brainpool curve, or over DH on a
// MODP group of RFC 5114 with Options.PACEDH, named by its standardized ID
// or, with Options.PACEDHExplicit, given in a PACEDomainParameterInfo; 3DES
// or AES; with Options.PACECAM also PACE with Chip Authentication Mapping,
// ICAO 9303-11 §4.4.3.3.3 and §4.4.3.5, run with the Chip Authentication key
// and EF.CardSecurity, after which the chip counts as chip-authenticated
// for Terminal Authentication),
// EF.COM, DG1 (TD1 or TD3 MRZ), DG2 (the photo in an ISO/IEC 19794-5
// record), DG3 (fingerprints), DG11, DG12, DG13, DG14 (the Chip
// Authentication key, which Options.DisableChipAuthentication leaves out, and
// the SecurityInfos of EF.CardAccess, ICAO 9303-11 §9.2.11), DG15
// when Options.ActiveAuthentication (ECDSA) or
// Options.ActiveAuthenticationRSA (ISO/IEC 9796-2) asks for an Active
// Authentication key (Options.OmitDG14 drops DG14 for a chip with PACE alone), EF.CardSecurity
// in the master file when Options.CardSecurity asks (DG14's SecurityInfos
// signed by the document signer, readable after PACE only, ICAO 9303-11
// §9.2.11), and EF.SOD signed by a test document signer under a test CSCA (NIST P-256
// by NewIssuer, brainpoolP256r1 by NewBrainpoolIssuer, whose certificates
// the package encodes itself since crypto/x509 cannot). It returns the applet with the CAN and
// the MRZ printed on the document and the CSCA certificate a verifier needs:
//
//	p, err := emrtdapplet.Personalise(emrtdapplet.SampleProfile(), nil)
//	card, err := virtual.NewCard(virtual.Config{ExtendedLength: true}, p.Applet)
//	fmt.Println("CAN:", p.CAN)
//	fmt.Println(p.MRZ)
//
// The applet holds the card's master file too (virtual.MasterFileHolder):
// after reset the MF is current, with EF.CardAccess, EF.DIR and, where
// personalised, EF.CardSecurity (011D / SFI 1D, the identifier of EF.SOD in
// the application: a separate namespace), and PACE runs
// there, so that any reader can follow ICAO 9303-11 §4.2 — read
// EF.CardAccess, PACE, SELECT the application under secure messaging — or
// select the application first and use BAC.
//
// READ BINARY (B0, and B1 with DO'54' and DO'53') answers as ISO/IEC 7816-4
// (2020) §11.2.3 and Table 6 have a card answer at the end of a file: an Ne
// beyond the bytes left gets those bytes and 6282, an offset at the end
// 6282 and nothing, an offset past it 6B00; under secure messaging the
// status word is in DO'99' under DO'8E' like any other (ICAO 9303-11 §9.8).
//
// The chip side of PACE, BAC and secure messaging is implemented here
// independently of pcsc/emrtd (the package imports no shared protocol code;
// from pcsc/emrtd it takes only the ICAO-to-ISO country code table, data
// that the test PKI and the verifier must agree on), so that tests of one against the other show
// interoperability; both are checked against the ICAO 9303-11 worked
// examples. Chip Authentication, Terminal Authentication (version 1, with its
// own CV certificate decoder and ECDSA) and Active Authentication are
// implemented the same way. Access rules: nothing but EF.CardAccess before
// PACE or BAC; DG3 and DG4 only after Terminal Authentication with a chain
// under the CVCA given in Options.CVCA whose effective rights include them —
// otherwise 6982, as a real chip answers a terminal without authorisation.
// The chip's current date starts at personalisation and advances with the
// effective dates of CVCA and domestic DV certificates; link certificates are
// accepted for the session only (a real chip would store the new trust
// point).
package emrtdapplet
