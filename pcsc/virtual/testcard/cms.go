package testcard

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The card issuer's signed PIV objects are CMS SignedData (RFC 5652): the
// CHUID's issuer asymmetric signature (SP 800-73-4 Part 1 §3.1.2.1) and the
// Security Object (§3.1.7). The content signing key is P-256, so both are
// ECDSA with SHA-256 (SP 800-78-4 Table 3-2; OIDs of its Table 3-3 and
// Table 3-6).

var (
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}

	// FIPS 201-3 Appendix B, Tables B-1 to B-3.
	oidCHUIDSecurityObject = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 6, 1}
	oidPIVSignerDN         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 6, 5}
	oidPIVContentSigning   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 6, 7}
	oidPIVCardAuth         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 6, 8}
	oidPIVFASCN            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 6, 6}
	oidSubjectAltName      = asn1.ObjectIdentifier{2, 5, 29, 17}

	// id-icao-ldsSecurityObject as "PKI for Machine Readable Travel
	// Documents Offering ICC Read-Only Access" v1.1, Appendix C, names it:
	// the document SP 800-73-4 Part 1 §3.1.7 follows for the Security
	// Object (GSA's PIV conformance tool checks this OID; ICAO Doc 9303
	// Part 10, which SP 800-73-5 cites, later moved it to 2.23.136.1.1.1).
	oidLDSSecurityObject = asn1.ObjectIdentifier{1, 3, 27, 1, 1, 1}
)

// signedContent describes one SignedData.
type signedContent struct {
	contentType asn1.ObjectIdentifier
	content     []byte
	// attached puts the content in eContent (the Security Object);
	// otherwise the signature is external (the CHUID, §3.1.2.1: "omit the
	// eContent field").
	attached bool
	// withCert puts the signer's certificate in certificates (the CHUID
	// must; the Security Object must not, §3.1.7, as it is in the CHUID).
	withCert bool
	// signerDN adds the pivSigner-DN signed attribute (§3.1.2.1).
	signerDN bool
}

// sign builds the DER ContentInfo of a SignedData, version 3 (RFC 5652
// §5.1: eContentType other than id-data), one SignerInfo of version 1
// naming its signer by issuerAndSerialNumber (§3.1.2.1), no CRLs.
func (sc signedContent) sign(key crypto.Signer, cert *x509.Certificate) ([]byte, error) {
	if _, ok := key.Public().(*ecdsa.PublicKey); !ok {
		return nil, errors.New("testcard: the content signing key must be ECDSA P-256")
	}
	digest := sha256.Sum256(sc.content)
	attrs := [][]byte{
		attribute(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(sc.contentType) }),
		attribute(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest[:]) }),
	}
	if sc.signerDN {
		attrs = append(attrs, attribute(oidPIVSignerDN, func(b *cryptobyte.Builder) { b.AddBytes(cert.RawSubject) }))
	}
	// DER orders a SET OF by the encodings of its members (X.690 §11.6).
	slices.SortFunc(attrs, bytes.Compare)
	var set cryptobyte.Builder
	set.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	signedAttrs, err := set.Bytes()
	if err != nil {
		return nil, err
	}
	// The signature covers the DER of the attributes as a SET (RFC 5652
	// §5.4), sent in the SignerInfo under the implicit tag [0].
	h := sha256.Sum256(signedAttrs)
	sig, err := key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(3)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { algorithm(b, oidSHA256) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(sc.contentType)
					if sc.attached {
						b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
							b.AddASN1OctetString(sc.content)
						})
					}
				})
				if sc.withCert {
					b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(cert.Raw) })
				}
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(cert.RawIssuer)
							b.AddASN1BigInt(cert.SerialNumber)
						})
						algorithm(b, oidSHA256)
						b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
							for _, a := range attrs {
								b.AddBytes(a)
							}
						})
						algorithm(b, oidECDSAWithSHA256)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	return b.Bytes()
}

// attribute encodes an Attribute with one value.
func attribute(oid asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1(cbasn1.SET, value)
	})
	return b.BytesOrPanic()
}

// algorithm encodes an AlgorithmIdentifier without parameters, as RFC 5754
// §2 (SHA-2) and RFC 5758 §3.2 (ECDSA) want them.
func algorithm(b *cryptobyte.Builder, oid asn1.ObjectIdentifier) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
}

// dataGroupHash is one entry of an LDSSecurityObject.
type dataGroupHash struct {
	number int
	hash   [sha256.Size]byte
}

// ldsSecurityObject encodes the LDSSecurityObject of the MRTD PKI
// (version v0, SHA-256, the data group hashes), the content the Security
// Object signs.
func ldsSecurityObject(hashes []dataGroupHash) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		algorithm(b, oidSHA256)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, h := range hashes {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(h.number))
					b.AddASN1OctetString(h.hash[:])
				})
			}
		})
	})
	return b.Bytes()
}
