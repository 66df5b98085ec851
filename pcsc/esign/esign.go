// Package esign makes and checks detached electronic signatures of documents
// in CMS (RFC 5652) at the CAdES baseline B level (ETSI EN 319 122-1): a
// SignedData with the signed attributes content-type, message-digest,
// signing-time and signing-certificate-v2 (RFC 5035), and no content — the
// document travels beside its .p7s.
//
// The private key is not here. A server prepares the signed attributes
// (Prepare), has the holder's card sign their digest with its e-signature
// key (PIV slot 9C, PIN asked for that signature), and assembles the
// SignedData around the signature (Pending.Assemble). The result verifies
// with `openssl cms -verify`.
//
// A web server runs it as a Ceremony: Begin keeps the pending signature in
// the identity challenge store (single use, expiry, any instance or a
// restarted one may finish it) after checking that the signing certificate
// belongs to the card enrolled on the account (ErrNotAccountCard); Finish
// assembles, verifies and audits. identity/httpauth serves the two halves as
// JSON endpoints. On the holder's side, SignOnCard checks that what the card
// is to sign names the document shown and the card, then has the card sign
// it (CheckSignedAttributes and cardauth.SignDigest, in one call).
//
// Verify checks a document against its signature and says who signed, when,
// and whether the document was altered. It reads what other signers make
// too (OpenSSL's `cms -sign` with its options): RSASSA-PSS, SHA-384 and
// SHA-512, a signer named by subject key identifier, signatures without
// signed attributes. It checks that the signer's certificate is for signing
// (key usage, accepted extended key usages), and with VerifyOptions.OCSP
// asks the CA whether it is revoked, through the library's OCSP checker
// (pcsc/cardauth/ocsp). What it does not handle is ErrUnsupported naming
// it, never a bad signature. esign is on the server path: it does not import
// the cgo package pcsc.
package esign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/puce-id/puce/identity"
)

// Object identifiers (RFC 5652, RFC 5035, RFC 5754, RFC 5758, RFC 8017).
var (
	oidData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSAWithSHA256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSHA256WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// Errors callers branch on, all reachable with errors.Is.
var (
	// ErrMalformed: the signature file is not a CMS SignedData, or breaks
	// a rule of RFC 5652 or of its algorithms' RFCs.
	ErrMalformed = errors.New("esign: malformed signature")
	// ErrDocumentAltered: the document is not the one that was signed.
	ErrDocumentAltered = errors.New("esign: the document was altered after it was signed, or is another document")
	// ErrBadSignature: the signature does not verify with the signer's
	// certificate. Never given for an algorithm esign does not handle.
	ErrBadSignature = errors.New("esign: the signature does not verify")
	// ErrUntrustedSigner: the signer's certificate does not chain to a
	// trusted CA, or is not for signing (ErrKeyUsage, ErrExtKeyUsage).
	ErrUntrustedSigner = errors.New("esign: the signer's certificate is not trusted")
	// ErrKeyUsage: the signer's certificate has a key usage extension
	// allowing neither digitalSignature nor nonRepudiation. Wraps
	// ErrUntrustedSigner.
	ErrKeyUsage = fmt.Errorf("%w: its key usage excludes signatures", ErrUntrustedSigner)
	// ErrExtKeyUsage: the signer's certificate has an extended key usage
	// extension naming none of the accepted purposes
	// (VerifyOptions.Purposes), for example serverAuth only. Wraps
	// ErrUntrustedSigner.
	ErrExtKeyUsage = fmt.Errorf("%w: its extended key usage excludes signing documents", ErrUntrustedSigner)
	// ErrRevoked: the signer's CA says the signer's certificate is revoked
	// (VerifyOptions.OCSP). Also wraps ocsp.ErrRevoked.
	ErrRevoked = errors.New("esign: the signer's certificate is revoked")
	// ErrRevocationUnknown: the signer's certificate status could not be
	// established: no OCSP answer (ocsp.ErrUnavailable) or one that cannot
	// be relied on (ocsp.ErrUnacceptable), which it also wraps.
	ErrRevocationUnknown = errors.New("esign: the signer's certificate status could not be established")
	// ErrUnsupported: an algorithm, key or structure esign does not handle;
	// the message names it. The signature may well be valid.
	ErrUnsupported = errors.New("esign: unsupported")
)

// MaxSignatureSize bounds what Verify reads.
const MaxSignatureSize = 1 << 20

// Pending is a signature being made: the signed attributes, whose digest the
// card signs.
type Pending struct {
	cert *x509.Certificate
	// SignedAttributes is the DER SET of the signed attributes, the bytes
	// the signature covers (RFC 5652 §5.4).
	SignedAttributes []byte
	// Digest is SHA-256 of SignedAttributes: what the card signs.
	Digest []byte
	// SigningTime is the time claimed in the attributes.
	SigningTime time.Time
}

func addOID(b *cryptobyte.Builder, oid asn1.ObjectIdentifier) {
	b.AddASN1ObjectIdentifier(oid)
}

func algorithmIdentifier(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, nullParams bool) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addOID(b, oid)
		if nullParams {
			b.AddASN1NULL()
		}
	})
}

// Prepare builds the signed attributes of a signature of document by the
// holder of cert, at time at. A CAdES baseline signature claims its time
// (ETSI EN 319 122-1 §6.3: signing-time present in B-B), so at must be set.
func Prepare(document []byte, cert *x509.Certificate, at time.Time) (*Pending, error) {
	if at.IsZero() {
		return nil, fmt.Errorf("%w: esign: a signature needs its signing time", identity.ErrBadInput)
	}
	d := sha256.Sum256(document)
	return PrepareDigest(d[:], cert, at)
}

// addTime writes UTCTime for 1950 to 2049 and GeneralizedTime otherwise
// (RFC 5280 §4.1.2.5, which RFC 5652 §11.3 follows).
func addTime(b *cryptobyte.Builder, t time.Time) {
	if t.Year() >= 1950 && t.Year() < 2050 {
		b.AddASN1UTCTime(t)
		return
	}
	b.AddASN1GeneralizedTime(t)
}

// SignerOpts returns the options to pass to the card's crypto.Signer for
// Digest: SHA-256, and PKCS #1 v1.5 padding for RSA keys.
func (p *Pending) SignerOpts() crypto.SignerOpts { return crypto.SHA256 }

// signatureAlgorithm names the signature algorithm for a key.
func signatureAlgorithm(pub crypto.PublicKey) (asn1.ObjectIdentifier, bool, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return oidECDSAWithSHA256, false, nil
	case *rsa.PublicKey:
		return oidSHA256WithRSA, true, nil
	}
	return nil, false, fmt.Errorf("%w: %T keys", ErrUnsupported, pub)
}

// checkSignature verifies the card's signature over the attributes'
// SHA-256 digest, as Assemble labels it.
func checkSignature(pub crypto.PublicKey, digest, sig []byte) error {
	a := sigAlg{kind: sigECDSA, hash: crypto.SHA256}
	if _, ok := pub.(*rsa.PublicKey); ok {
		a.kind = sigPKCS1
	}
	return verifySignature(pub, a, digest, sig)
}

// Assemble checks the card's signature of p.Digest and returns the detached
// SignedData (DER, the content of a .p7s file). chain holds certificates to
// include after the signer's (the issuing CA), so a receiver can build the
// path.
func (p *Pending) Assemble(signature []byte, chain ...*x509.Certificate) ([]byte, error) {
	if err := checkSignature(p.cert.PublicKey, p.Digest, signature); err != nil {
		return nil, fmt.Errorf("esign: the card's signature: %w", err)
	}
	sigAlg, rsaNull, _ := signatureAlgorithm(p.cert.PublicKey)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		addOID(b, oidSignedData)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { algorithmIdentifier(b, oidSHA256, false) })
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { addOID(b, oidData) }) // detached
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddBytes(p.cert.Raw)
					for _, c := range chain {
						b.AddBytes(c.Raw)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
							b.AddBytes(p.cert.RawIssuer)
							b.AddASN1BigInt(p.cert.SerialNumber)
						})
						algorithmIdentifier(b, oidSHA256, false)
						// The signed attributes as [0] IMPLICIT: the SET with
						// its tag replaced (RFC 5652 §5.3).
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							inner := cryptobyte.String(p.SignedAttributes)
							var content cryptobyte.String
							inner.ReadASN1(&content, cbasn1.SET)
							b.AddBytes(content)
						})
						algorithmIdentifier(b, sigAlg, rsaNull)
						b.AddASN1OctetString(signature)
					})
				})
			})
		})
	})
	return b.Bytes()
}
