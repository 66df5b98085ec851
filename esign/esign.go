// Package esign makes and checks detached electronic signatures of documents
// in CMS (RFC 5652) at the CAdES baseline B level (ETSI EN 319 122-1): a
// SignedData with the signed attributes content-type, message-digest,
// signing-time and signing-certificate-v2 (RFC 5035), and no content — the
// document travels beside its .p7s.
//
// The private key is not here. A server prepares the signed attributes
// (Prepare), has the holder's card sign their digest with its e-signature
// key (PIV slot 9C, PIN asked for that signature), and assembles the
// SignedData around the signature (Pending.Assemble). Verify checks a
// document against its signature and says who signed, when, and whether the
// document was altered. The result verifies with `openssl cms -verify`.
package esign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
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

// Errors callers branch on.
var (
	// ErrMalformed: the signature file is not a CMS SignedData puce can
	// read (one signer, SHA-256, detached).
	ErrMalformed = errors.New("esign: malformed signature")
	// ErrDocumentAltered: the document is not the one that was signed.
	ErrDocumentAltered = errors.New("esign: the document was altered after it was signed, or is another document")
	// ErrBadSignature: the signature does not verify with the signer's
	// certificate.
	ErrBadSignature = errors.New("esign: the signature does not verify")
	// ErrUntrustedSigner: the signer's certificate does not chain to a
	// trusted CA, or is not for signing.
	ErrUntrustedSigner = errors.New("esign: the signer's certificate is not trusted")
	// ErrUnsupported: a key or algorithm esign does not handle.
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
// holder of cert, at time at.
func Prepare(document []byte, cert *x509.Certificate, at time.Time) (*Pending, error) {
	if _, _, err := signatureAlgorithm(cert.PublicKey); err != nil {
		return nil, err
	}
	docDigest := sha256.Sum256(document)
	certHash := sha256.Sum256(cert.Raw)
	at = at.UTC().Truncate(time.Second)
	attr := func(oid asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) []byte {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addOID(b, oid)
			b.AddASN1(cbasn1.SET, value)
		})
		return b.BytesOrPanic()
	}
	attrs := [][]byte{
		attr(oidContentType, func(b *cryptobyte.Builder) { addOID(b, oidData) }),
		attr(oidSigningTime, func(b *cryptobyte.Builder) { addTime(b, at) }),
		attr(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(docDigest[:]) }),
		// SigningCertificateV2 { certs { ESSCertIDv2 { certHash, issuerSerial } } },
		// hashAlgorithm omitted: SHA-256 is its DEFAULT (RFC 5035 §4).
		attr(oidSigningCertificateV2, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(certHash[:])
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
									b.AddBytes(cert.RawIssuer)
								})
							})
							b.AddASN1BigInt(cert.SerialNumber)
						})
					})
				})
			})
		}),
	}
	// A DER SET OF is sorted by the encodings of its elements (X.690 §11.6).
	slices.SortFunc(attrs, bytes.Compare)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	set, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("esign: encode the signed attributes: %w", err)
	}
	d := sha256.Sum256(set)
	return &Pending{cert: cert, SignedAttributes: set, Digest: d[:], SigningTime: at}, nil
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

// checkSignature verifies a signature over the attributes' digest.
func checkSignature(pub crypto.PublicKey, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return ErrBadSignature
		}
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) != nil {
			return ErrBadSignature
		}
	default:
		return fmt.Errorf("%w: %T keys", ErrUnsupported, pub)
	}
	return nil
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

// Report is what Verify found.
type Report struct {
	// Signer is the signer's certificate.
	Signer *x509.Certificate
	// SigningTime is the time the signer's software claimed (not a
	// timestamp: CAdES baseline B has none).
	SigningTime time.Time
	// Chain is the certification path to a trusted root.
	Chain []*x509.Certificate
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Roots, Intermediates *x509.CertPool
	// Time at which the certificates must be valid; zero means the signing
	// time (baseline B has no timestamp to do better).
	Time time.Time
}

// Verify checks a detached signature of document. Each failure says
// plainly what is wrong: ErrDocumentAltered when the document does not match
// the signed digest, ErrBadSignature when the signature does not verify,
// ErrUntrustedSigner when the signer's certificate does not chain or is not
// for signing, ErrMalformed otherwise.
func Verify(document, p7s []byte, opts VerifyOptions) (*Report, error) {
	sd, err := parse(p7s)
	if err != nil {
		return nil, err
	}
	var signer *x509.Certificate
	var others []*x509.Certificate
	for _, der := range sd.certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
		}
		if signer == nil && bytes.Equal(c.RawIssuer, sd.issuer) && c.SerialNumber.Cmp(sd.serial) == 0 {
			signer = c
		} else {
			others = append(others, c)
		}
	}
	if signer == nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not in the signature", ErrMalformed)
	}
	digest := sha256.Sum256(document)
	if !bytes.Equal(digest[:], sd.messageDigest) {
		return nil, ErrDocumentAltered
	}
	attrDigest := sha256.Sum256(sd.signedAttrs)
	if err := checkSignature(signer.PublicKey, attrDigest[:], sd.signature); err != nil {
		return nil, err
	}
	if sd.certHash != nil {
		h := sha256.Sum256(signer.Raw)
		if !bytes.Equal(h[:], sd.certHash) {
			return nil, fmt.Errorf("%w: signing-certificate-v2 names another certificate", ErrBadSignature)
		}
	}
	if signer.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, fmt.Errorf("%w: key usage allows no signature", ErrUntrustedSigner)
	}
	at := opts.Time
	if at.IsZero() {
		at = sd.signingTime
	}
	inter := opts.Intermediates
	if inter == nil {
		inter = x509.NewCertPool()
	} else {
		inter = inter.Clone()
	}
	for _, c := range others {
		inter.AddCert(c)
	}
	chains, err := signer.Verify(x509.VerifyOptions{Roots: opts.Roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrustedSigner, err)
	}
	return &Report{Signer: signer, SigningTime: sd.signingTime, Chain: chains[0]}, nil
}

type signedData struct {
	certs         [][]byte
	issuer        []byte
	serial        *big.Int
	signedAttrs   []byte // re-tagged as SET, the bytes that were signed
	signature     []byte
	messageDigest []byte
	certHash      []byte
	signingTime   time.Time
}

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// parse reads a detached SignedData with one SHA-256 signer.
func parse(p7s []byte) (*signedData, error) {
	if len(p7s) > MaxSignatureSize {
		return nil, malformed("larger than 1 MiB")
	}
	in := cryptobyte.String(p7s)
	var ci, content, sdSeq cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() || !ci.ReadASN1ObjectIdentifier(&ct) || !ct.Equal(oidSignedData) ||
		!ci.ReadASN1(&content, cbasn1.Tag(0).Constructed().ContextSpecific()) || !content.ReadASN1(&sdSeq, cbasn1.SEQUENCE) {
		return nil, malformed("not a CMS SignedData")
	}
	var version int64
	var digestAlgs, encap, certs, signerInfos cryptobyte.String
	var eType asn1.ObjectIdentifier
	if !sdSeq.ReadASN1Integer(&version) || !sdSeq.ReadASN1(&digestAlgs, cbasn1.SET) ||
		!sdSeq.ReadASN1(&encap, cbasn1.SEQUENCE) || !encap.ReadASN1ObjectIdentifier(&eType) {
		return nil, malformed("SignedData header")
	}
	if !encap.Empty() {
		return nil, malformed("the signature is not detached (it carries content)")
	}
	sd := &signedData{}
	var hasCerts bool
	if !sdSeq.ReadOptionalASN1(&certs, &hasCerts, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, malformed("certificates")
	}
	for !certs.Empty() {
		var c cryptobyte.String
		var tag cbasn1.Tag
		if !certs.ReadAnyASN1Element(&c, &tag) {
			return nil, malformed("certificates")
		}
		if tag == cbasn1.SEQUENCE {
			sd.certs = append(sd.certs, c)
		}
	}
	var crls cryptobyte.String
	var hasCRLs bool
	if !sdSeq.ReadOptionalASN1(&crls, &hasCRLs, cbasn1.Tag(1).Constructed().ContextSpecific()) ||
		!sdSeq.ReadASN1(&signerInfos, cbasn1.SET) {
		return nil, malformed("signer infos")
	}
	var si cryptobyte.String
	if !signerInfos.ReadASN1(&si, cbasn1.SEQUENCE) || !signerInfos.Empty() {
		return nil, malformed("want exactly one signer")
	}
	var siVersion int64
	var sid, issuer, digestAlg, sigAlg cryptobyte.String
	var digestOID asn1.ObjectIdentifier
	sd.serial = new(big.Int)
	if !si.ReadASN1Integer(&siVersion) || siVersion != 1 || !si.ReadASN1(&sid, cbasn1.SEQUENCE) ||
		!sid.ReadASN1Element(&issuer, cbasn1.SEQUENCE) || !sid.ReadASN1Integer(sd.serial) ||
		!si.ReadASN1(&digestAlg, cbasn1.SEQUENCE) || !digestAlg.ReadASN1ObjectIdentifier(&digestOID) {
		return nil, malformed("signer identifier (only issuer and serial number are read)")
	}
	if !digestOID.Equal(oidSHA256) {
		return nil, fmt.Errorf("%w: digest algorithm %v", ErrUnsupported, digestOID)
	}
	sd.issuer = issuer
	var attrs cryptobyte.String
	if !si.ReadASN1(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, malformed("no signed attributes")
	}
	// What was signed is the SET encoding of the attributes (RFC 5652 §5.4).
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(attrs) })
	sd.signedAttrs, _ = b.Bytes()
	if err := sd.readAttributes(attrs); err != nil {
		return nil, err
	}
	var sig cryptobyte.String
	if !si.ReadASN1(&sigAlg, cbasn1.SEQUENCE) || !si.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return nil, malformed("signature")
	}
	sd.signature = sig
	return sd, nil
}

func (sd *signedData) readAttributes(attrs cryptobyte.String) error {
	var sawType bool
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) || !attr.ReadASN1(&values, cbasn1.SET) {
			return malformed("signed attribute")
		}
		switch {
		case oid.Equal(oidContentType):
			var t asn1.ObjectIdentifier
			if !values.ReadASN1ObjectIdentifier(&t) || !t.Equal(oidData) {
				return malformed("content type is not id-data")
			}
			sawType = true
		case oid.Equal(oidMessageDigest):
			var d cryptobyte.String
			if !values.ReadASN1(&d, cbasn1.OCTET_STRING) {
				return malformed("message digest")
			}
			sd.messageDigest = d
		case oid.Equal(oidSigningTime):
			var err error
			if values.PeekASN1Tag(cbasn1.UTCTime) {
				if !values.ReadASN1UTCTime(&sd.signingTime) {
					err = malformed("signing time")
				}
			} else if !values.ReadASN1GeneralizedTime(&sd.signingTime) {
				err = malformed("signing time")
			}
			if err != nil {
				return err
			}
		case oid.Equal(oidSigningCertificateV2):
			var scv2, certsSeq, id cryptobyte.String
			if !values.ReadASN1(&scv2, cbasn1.SEQUENCE) || !scv2.ReadASN1(&certsSeq, cbasn1.SEQUENCE) || !certsSeq.ReadASN1(&id, cbasn1.SEQUENCE) {
				return malformed("signing-certificate-v2")
			}
			if id.PeekASN1Tag(cbasn1.SEQUENCE) { // hashAlgorithm present: must be SHA-256
				var alg cryptobyte.String
				var aoid asn1.ObjectIdentifier
				if !id.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&aoid) || !aoid.Equal(oidSHA256) {
					return fmt.Errorf("%w: signing-certificate-v2 hash", ErrUnsupported)
				}
			}
			var h cryptobyte.String
			if !id.ReadASN1(&h, cbasn1.OCTET_STRING) {
				return malformed("signing-certificate-v2 hash")
			}
			sd.certHash = h
		}
	}
	if !sawType || sd.messageDigest == nil {
		return malformed("content type or message digest attribute missing")
	}
	return nil
}
