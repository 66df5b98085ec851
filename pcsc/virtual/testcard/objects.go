package testcard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/puce-id/puce/pcsc/apdu"
)

// PIV data objects the card holds besides the certificates (SP 800-73-4
// Part 1 Table 1 gives their tags and ContainerIDs).
var (
	objCCC            = []byte{0x5F, 0xC1, 0x07}
	objCHUID          = []byte{0x5F, 0xC1, 0x02}
	objSecurityObject = []byte{0x5F, 0xC1, 0x06}
)

// securedObjects are the objects the Security Object covers when the card
// holds them, with their ContainerIDs (Part 1 Table 1). §3.1.7 asks for at
// least the unsigned ones (the printed information) and recommends all
// but the X.509 certificates. The biometric containers are absent by
// design (package pivapplet's comment) and so never covered: the mapping
// has one entry "for each PIV data object included" (§3.1.7), and a
// verifier reads each one it names.
var securedObjects = []struct {
	id          []byte
	containerID uint16
}{
	{objCCC, 0xDB00},
	{objCHUID, 0x3000},
	{[]byte{0x5F, 0xC1, 0x09}, 0x3001}, // printed information
	{[]byte{0x7E}, 0x6050},             // discovery object
	{[]byte{0x5F, 0xC1, 0x0C}, 0x6060}, // key history object
}

// fascn is the card's FASC-N: a non-federal issuer's (agency code 9999,
// TIG SCEPACS), the same in the CHUID and in the card authentication
// certificate (SP 800-73-4 Part 1 §3.1.2: "The same FASC-N value shall be
// used in all of the PIV data objects that include the FASC-N").
func fascn() []byte {
	return []byte{0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42, 0x10, 0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB}
}

// cardSAN is the subject alternative name FIPS 201-3 asks of the card
// authentication certificate (§4.2.2.2) and of the PIV authentication
// certificate (§4.2.2.1): the FASC-N as a pivFASC-N otherName (Table B-2:
// an OCTET STRING) and the card UUID as a urn:uuid: URI (RFC 4122 §3),
// then the holder's email as an rfc822Name when email is set (only the
// PIV authentication certificate names the holder). crypto/x509 writes
// no otherName, and a SAN given as an extension replaces the one it would
// write from EmailAddresses, so the whole extension is built here.
func (c *Card) cardSAN(email string) (pkix.Extension, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidPIVFASCN)
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(fascn())
			})
		})
		b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddBytes([]byte("urn:uuid:" + c.CardUUID.String()))
		})
		if email != "" {
			b.AddASN1(cbasn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(email)) })
		}
	})
	der, err := b.Bytes()
	return pkix.Extension{Id: oidSubjectAltName, Value: der}, err
}

// newCardUUID is the card's UUID (Part 1 §3.4.1): version 4, random.
func newCardUUID() (uuid.UUID, error) { return uuid.NewRandom() }

// chuid builds a CHUID (SP 800-73-4 Part 1 §3.1.2, Table 9): the FASC-N of
// a non-federal issuer (all 9s agency code, TIG SCEPACS), the card UUID as
// GUID (§3.4.1: a valid RFC 4122 UUID), the expiration date, the issuer
// asymmetric signature (§3.1.2.1) and an empty error detection code. The
// signature covers "the concatenated contents of the CHUID, excluding the
// asymmetric signature field" (FIPS 201-3 Table B-1), the error detection
// code included, as GSA's PIV conformance tool computes it.
func (c *Card) chuid(expires time.Time) ([]byte, error) {
	fields := func(sig []byte) ([]byte, error) {
		var b apdu.TLVBuilder
		b.Add(0x30, fascn())
		b.Add(0x34, c.CardUUID[:])
		b.Add(0x35, []byte(expires.UTC().Format("20060102")))
		if sig != nil {
			b.Add(0x3E, sig)
		}
		b.Add(0xFE, nil)
		return b.Bytes()
	}
	signed, err := fields(nil)
	if err != nil {
		return nil, err
	}
	sig, err := signedContent{contentType: oidCHUIDSecurityObject, content: signed, withCert: true, signerDN: true}.
		sign(c.PKI.ContentSigningKey, c.PKI.ContentSigning)
	if err != nil {
		return nil, fmt.Errorf("testcard: sign the CHUID: %w", err)
	}
	return fields(sig)
}

// UpdateSecurityObject signs the Security Object (SP 800-73-4 Part 1
// §3.1.7) anew over the data objects the card holds now: New does it once,
// and a test that writes the printed information, a discovery object or a
// key history object afterwards calls it again. Each covered object is
// hashed with SHA-256 over its content as GET DATA returns it inside the
// object's tag (53, or 7E), the DG numbers run from 1 in the order of
// SP 800-73-4 Table 1, and the content signing key that signed the CHUID
// signs it, without its certificate, which the CHUID carries.
func (c *Card) UpdateSecurityObject() error {
	var (
		mapping []byte
		hashes  []dataGroupHash
	)
	for _, o := range securedObjects {
		content, held := c.Applet.Object(o.id)
		if !held {
			continue
		}
		dg := len(hashes) + 1
		mapping = append(mapping, byte(dg), byte(o.containerID>>8), byte(o.containerID))
		hashes = append(hashes, dataGroupHash{number: dg, hash: sha256.Sum256(content)})
	}
	if len(hashes) < 2 {
		// LDSSecurityObject's dataGroupHashValues has SIZE (2..16).
		return fmt.Errorf("testcard: the Security Object needs two objects to cover, the card holds %d", len(hashes))
	}
	lds, err := ldsSecurityObject(hashes)
	if err != nil {
		return err
	}
	so, err := signedContent{contentType: oidLDSSecurityObject, content: lds, attached: true}.
		sign(c.PKI.ContentSigningKey, c.PKI.ContentSigning)
	if err != nil {
		return fmt.Errorf("testcard: sign the Security Object: %w", err)
	}
	var b apdu.TLVBuilder
	b.Add(0xBA, mapping)
	b.Add(0xBB, so)
	b.Add(0xFE, nil)
	content, err := b.Bytes()
	if err != nil {
		return err
	}
	return c.Applet.SetObject(objSecurityObject, content)
}

// ccc builds a Card Capability Container, a mandatory PIV data object
// (SP 800-73-4 Part 1 §3.1.1, Table 8): the card identifier (GSC-IS RID
// A0 00 00 01 16, manufacturer FF for none registered, card type 02 Java
// Card, then 14 random bytes), container and grammar versions 2.1, no
// PKCS#15, data model 10 (PIV), and the remaining elements empty. It has the
// layout yubico-piv-tool writes and reads back (set-ccc, status).
func ccc() []byte {
	id := make([]byte, 14)
	rand.Read(id)
	var b apdu.TLVBuilder
	b.Add(0xF0, append([]byte{0xA0, 0x00, 0x00, 0x01, 0x16, 0xFF, 0x02}, id...))
	b.Add(0xF1, []byte{0x21})
	b.Add(0xF2, []byte{0x21})
	b.Add(0xF3, nil)
	b.Add(0xF4, []byte{0x00})
	b.Add(0xF5, []byte{0x10})
	for _, tag := range []apdu.Tag{0xF6, 0xF7, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE} {
		b.Add(tag, nil)
	}
	out, _ := b.Bytes()
	return out
}
