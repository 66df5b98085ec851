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
// MRZKey, in the order of ICAO 9303-11 §4.2: EF.CardAccess read from the
// master file, PACE (§4.4; generic mapping over ECDH on the NIST and
// Brainpool curves of §9.5.1, or over DH on its MODP groups, parameter IDs
// 0-2 of RFC 5114, the 2048-bit ones over extended length only; 3DES or AES
// secure messaging) when it offers a supported variant, then SELECT of the
// application (under secure
// messaging after PACE), and Basic Access Control (§4.3, 3DES) when PACE was
// not possible. A refused key gives ErrAccessDenied before anything is read. Every later
// command goes through a SecureChannel, an apdu.Transport decorator that
// implements the secure messaging of §9.8 (DO'87'/DO'85', DO'97', DO'99',
// DO'8E', send sequence counter).
//
// With PACE with Chip Authentication Mapping (PACE-CAM, §4.4.3.3.3,
// §4.4.3.5; id-PACE-ECDH-CAM-AES-CBC-CMAC-128/192/256), which Open prefers
// to generic mapping when EF.CardAccess offers both, the chip also sends
// A_IC = E(KSenc, CA_IC), CA_IC = SK_IC^-1 · SK_Map,IC mod n; Open reads
// EF.CardSecurity and checks PK_Map,IC = CA_IC · PK_IC against its Chip
// Authentication key (§4.4.3.5). The chip is then authenticated
// (Session.ChipAuthenticated) in the same run, without Chip Authentication:
// a clone carrying a genuine chip's files cannot produce CA_IC, because it
// would need the genuine static key. Once Session.Read, with CSCAs, has
// verified EF.CardSecurity's signature (passive authentication, §5.1), the
// key is the issuer's, and Read requires it among DG14's Chip
// Authentication keys (§9.2.11) so that a chip with another genuine
// document's EF.CardSecurity and key cannot carry a victim's data groups;
// only then does Record.ChipAuthenticated report it. A chip that fails the
// check, or announces CAM and sends no A_IC, gives ErrPACECAM (which
// matches ErrChipAuthentication).
// Read also refuses, with ErrCardAccessMismatch, a session that ran generic
// mapping while the signed SecurityInfos offer CAM: EF.CardAccess was
// stripped to drop the chip's proof. Terminal Authentication after CAM
// signs the terminal's PACE ephemeral key as Comp(PK_PCD) (BSI TR-03110-2
// §3.4.2: CAM stands in for Chip Authentication).
//
// PACE validates every public key the chip sends before using it — a point
// on the curve, or for DH 1 < y < p-1 and y^q = 1 mod p (BSI TR-03110-3) —
// refuses a chip that echoes the reader's ephemeral key (§4.4.3.3.2) with
// ErrProtocol, and compares the chip's token in constant time; a wrong
// token gives ErrAccessDenied. Explicit DH parameters in a
// PACEDomainParameterInfo (dhpublicnumber) are used when they form a group
// with a prime-order subgroup of at least 160 bits in a 1024- to 2048-bit
// prime field. Integrated mapping, chip authentication mapping over DH (the
// standard has none) and explicit ECDH parameters are not supported: such a PACEInfo is not Supported, and Open,
// given an MRZ key, uses BAC, as it does for a 2048-bit DH group over a
// reader without extended length.
//
// Fingerprints (DG3) and irises (DG4) need EAC Terminal Authentication;
// without it asking for them gives ErrNotAuthorised (which matches
// apdu.ErrSecurityStatus), as the chip would answer.
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
// in the security object and matching, and the document signer's country
// that of its CSCA and of DG1's issuing state (CountryAlpha2 maps ICAO 9303-3
// codes to ISO 3166-1 alpha-2). Failures match ErrPassiveAuth and name the
// data group (DataGroupError): ErrHashMismatch for an altered group,
// ErrHashMissing for a group EF.SOD does not list, ErrCountryMismatch for a
// signer of another state. Read then checks the EF.CardAccess that chose the
// protocol against a signed copy (ICAO 9303-11 §9.2.11): EF.CardSecurity,
// read from the master file after PACE where the chip has one and DG14 does
// not serve (verified like EF.SOD; ErrCardSecurity when it fails), or DG14.
// An altered or hidden EF.CardAccess, a downgrade, gives
// ErrCardAccessMismatch, and so does a PACE chip with neither. A chip
// whose signed files do not announce PACE cannot be caught so: an
// inspection system that must not use BAC sets Options.RequirePACE, and
// Open then fails with ErrPACERequired rather than fall back.
//
// # Extended Access Control and clone detection
//
// PACE-CAM authenticates the chip in Open (see Access). Otherwise
// Session.AuthenticateChip runs Chip Authentication (ICAO 9303-11 §6.2, BSI
// TR-03110 version 1): ECDH with the chip's static key from DG14, secure
// messaging restarted under the agreed keys (3DES through MSE:Set KAT, AES
// through MSE:Set AT and GENERAL AUTHENTICATE). A chip without DG14's private
// key — a clone carrying a genuine chip's files, which passive
// authentication alone accepts — fails with ErrChipAuthentication.
// Session.AuthenticateActive runs Active Authentication (§6.1) with an ECDSA
// or RSA (ISO/IEC 9796-2) DG15 key; a wrong key gives
// ErrActiveAuthentication. ReadOptions ChipAuthentication and ActiveAuthentication run them inside Read and make
// passive authentication cover DG14 and DG15, the keys they used.
// Session.ProveActive signs a challenge chosen by a remote receiver
// (DisclosureChallenge binds it to the receiver's nonce and origin), which
// shows the receiver that the chip itself answered, as passive
// authentication alone cannot (see Disclosure).
//
// Session.AuthenticateTerminal runs Terminal Authentication version 1 (ICAO
// 9303-11 §7, BSI TR-03110-3) for an inspection system: its CV certificate
// chain CVCA → DV → IS (ParseCVCertificate, CreateCVCertificate,
// VerifyCVChain; ECDSA, role and DG3/DG4 rights in the CHAT) goes to the chip
// with MSE:Set DST and PSO:Verify Certificate, then the terminal signs
// ID_IC ‖ r_IC ‖ Comp(PK_PCD) with its crypto.Signer. The chip grants the AND
// of the chain's rights; ReadOptions.Terminal reads DG3 (ParseDG3) and DG4 as
// far as they go. A refused chain or signature gives
// ErrTerminalAuthentication, which matches ErrNotAuthorised.
//
// # Brainpool certificates
//
// crypto/x509 rejects certificates with Brainpool keys, which several states
// use for their CSCA and document signers. ParseCertificate reads them too,
// and passive authentication verifies their signatures and chain with this
// package's own ECDSA over the curve arithmetic PACE uses; NIST and RSA
// chains still go through crypto/x509.
//
// # Trust anchors and revocation
//
// ParseMasterList reads a CSCA master list (ICAO 9303-12 §8.2, a CMS
// SignedData of CSCA certificates); MasterList.Verify checks it against the
// publishing state's CSCA before its certificates serve as
// ReadOptions.CSCAs. ReadOptions.CRLs (PassiveOptions.CRLs) take the CSCAs'
// revocation lists: a revoked document signer gives ErrRevoked, a CRL not
// signed by its CSCA fails closed.
//
// # Disclosure
//
// One call on each side. The holder's, Session.PrepareDisclosure, reads
// what the receiver's DisclosureRequest asks for and the document carries
// and, when EF.SOD covers an Active Authentication key (DG15), has the chip
// sign the receiver's challenge; after the holder's review,
// PreparedDisclosure.Disclose packs the required groups, the optional ones
// the holder chose, and the proof with DG14 and DG15, all as read, with
// EF.SOD. The receiver's, VerifyDisclosure, runs passive authentication
// against its CSCA certificates, holds the disclosure to the request (no
// required group missing, nothing unasked), and enforces the DG15 rule: a
// chip that can prove its presence must have signed this exchange's
// challenge (ErrNoChipProof), so that a copy of the data is refused.
//
// Secrets — the CAN, the MRZ key, session keys — never appear in errors or
// logs; CAN and MRZKey print as "redacted".
package emrtd
