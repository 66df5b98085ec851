// Package pivapplet is the virtual card's services applet: a PIV card
// application (NIST SP 800-73-4) from the card's side, for package virtual.
// It keeps a PIN and PUK with retry counters and blocking, a management key
// (3DES or AES), keys in slots 9A, 9C, 9D and 9E with the PIN rules of the
// standard (9C needs the PIN before every signature, 9E never), and data
// objects (certificates, CHUID, Security Object; the printed information
// only after the PIN). Optionally it also answers the vendor instructions of
// YubiKey-compatible tokens (version, metadata).
//
// # A deliberate deviation: no biometric data
//
// SP 800-73-4 Part 1 §3.1 (and Table 1, column M/O) makes the Cardholder
// Fingerprints (5FC103) and the Cardholder Facial Image (5FC108) mandatory
// PIV data objects, and FIPS 201-3 §4.2.3.1 has the issuer store them on the
// card. This applet refuses to hold them, and the iris images (5FC121)
// too: SetObject and PUT DATA of those containers fail, and GET DATA
// answers as for an object the card does not carry (6982 before the PIN,
// so that presence is not told, 6A82 after it). On a puce card the
// holder's biometric data live only in the sovereign eMRTD applet, opened
// with the holder's access key and, for fingerprints, only for an
// authorised terminal (DESIGN.md, "Sovereign separation"): a relying party
// learns who someone is from the services applet's certificates, and
// receives the holder's identity data only as a disclosure the holder chose
// and that it checks by passive authentication. A PIV applet that served
// fingerprints or a face to anyone holding the PIN would be a second door
// to those data, outside the holder's choice. The Security Object
// (5FC106) therefore covers only objects the card holds (§3.1.7: one
// mapping entry "for each PIV data object included"), never these.
//
// It is written apart from the host client (package piv) on purpose: tests
// of one against the other prove two readings of the standard agree.
package pivapplet
