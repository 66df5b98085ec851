package esign

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// signedData is what verification needs of a detached SignedData with one
// signer.
type signedData struct {
	// eType is the encapsulated content's type: id-data for a detached
	// signature, id-ct-TSTInfo for a timestamp token, whose eContent is
	// then kept.
	eType    asn1.ObjectIdentifier
	eContent []byte

	certs [][]byte
	// The signer, by issuer and serial number or by subject key
	// identifier (RFC 5652 §5.3 SignerIdentifier).
	issuer []byte
	serial *big.Int
	ski    []byte

	digest    crypto.Hash // the SignerInfo's digestAlgorithm
	alg       sigAlg
	signature []byte

	// signedAttrs is nil when the signer signed the content's digest
	// directly; otherwise the attributes re-tagged as a SET, the bytes
	// that were signed (RFC 5652 §5.4).
	signedAttrs   []byte
	messageDigest []byte
	signingTime   time.Time
	// ESS signing certificate: v2 (RFC 5035) and v1 (RFC 2634 §5.4, its
	// hash always SHA-1).
	certHash     []byte
	certHashAlg  crypto.Hash
	certHashSHA1 []byte
	// The issuerSerial of each, nil when absent.
	issuerSerial, issuerSerialSHA1 []byte

	// timestampToken is the signature timestamp among the unsigned
	// attributes (CAdES-T), nil without.
	timestampToken []byte
	// ocsp are the OCSP answers and crls the CRLs kept in SignedData.crls
	// (CAdES-LT).
	ocsp, crls [][]byte
}

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

var (
	tag0 = cbasn1.Tag(0).Constructed().ContextSpecific()
	tag1 = cbasn1.Tag(1).Constructed().ContextSpecific()
	// subjectKeyIdentifier [0] SubjectKeyIdentifier: an OCTET STRING
	// tagged IMPLICIT, so primitive (RFC 5652 §5.3, module IMPLICIT TAGS).
	tagSKI = cbasn1.Tag(0).ContextSpecific()
)

// parse reads a detached SignedData with one signer (RFC 5652 §5.1-§5.3).
func parse(p7s []byte) (*signedData, error) { return parseSignedData(p7s, oidData) }

// parseSignedData reads a SignedData with one signer whose content is of
// type want: id-data, detached; or id-ct-TSTInfo, encapsulated (a timestamp
// token, RFC 3161 §2.4.2).
func parseSignedData(p7s []byte, want asn1.ObjectIdentifier) (*signedData, error) {
	if len(p7s) > MaxSignatureSize {
		return nil, malformed("larger than 1 MiB")
	}
	in := cryptobyte.String(p7s)
	var ci, content, sdSeq cryptobyte.String
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() {
		// BER — indefinite lengths (X.690 §8.1.3.6), which streaming
		// signers such as NSS write, long-form lengths, chunked strings —
		// is legal CMS (RFC 5652 §1.2 asks DER of the signed attributes
		// only): read it re-encoded as DER (ber.go).
		der, err := berToDER(p7s)
		if err != nil {
			return nil, malformed("not a CMS SignedData")
		}
		in = cryptobyte.String(der)
		if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() {
			return nil, malformed("not a CMS SignedData")
		}
	}
	if ct, ok := readOID(&ci); !ok || !oidIs(ct, oidSignedData) ||
		!ci.ReadASN1(&content, tag0) || !content.ReadASN1(&sdSeq, cbasn1.SEQUENCE) {
		return nil, malformed("not a CMS SignedData")
	}
	var version int64
	var digestAlgs, encap, certs, signerInfos cryptobyte.String
	if !sdSeq.ReadASN1Integer(&version) || !sdSeq.ReadASN1(&digestAlgs, cbasn1.SET) ||
		!sdSeq.ReadASN1(&encap, cbasn1.SEQUENCE) {
		return nil, malformed("SignedData header")
	}
	eType, ok := readOID(&encap)
	if !ok {
		return nil, malformed("SignedData header")
	}
	if !oidIs(eType, want) {
		if want.Equal(oidData) {
			return nil, unsupported("content type %s (only id-data)", oidString(eType))
		}
		return nil, malformed("content type " + oidString(eType) + ", want " + want.String())
	}
	sd := &signedData{eType: want}
	if want.Equal(oidData) {
		if !encap.Empty() {
			return nil, unsupported("signatures carrying their content (esign reads detached signatures)")
		}
	} else {
		var explicit, octets cryptobyte.String
		if !encap.ReadASN1(&explicit, tag0) || !explicit.ReadASN1(&octets, cbasn1.OCTET_STRING) || !explicit.Empty() || !encap.Empty() {
			return nil, malformed("encapsulated content")
		}
		sd.eContent = octets
	}
	var hasCerts bool
	if !sdSeq.ReadOptionalASN1(&certs, &hasCerts, tag0) {
		return nil, malformed("certificates")
	}
	for !certs.Empty() {
		var c cryptobyte.String
		var tag cbasn1.Tag
		if !certs.ReadAnyASN1Element(&c, &tag) {
			return nil, malformed("certificates")
		}
		// Other CertificateChoices (attribute certificates) are skipped.
		if tag == cbasn1.SEQUENCE {
			sd.certs = append(sd.certs, c)
		}
	}
	var crls cryptobyte.String
	var hasCRLs bool
	if !sdSeq.ReadOptionalASN1(&crls, &hasCRLs, tag1) || !sdSeq.ReadASN1(&signerInfos, cbasn1.SET) {
		return nil, malformed("signer infos")
	}
	if err := sd.readRevocationInfo(crls); err != nil {
		return nil, err
	}
	var si cryptobyte.String
	if !signerInfos.ReadASN1(&si, cbasn1.SEQUENCE) {
		return nil, malformed("no signer")
	}
	if !signerInfos.Empty() {
		return nil, unsupported("signatures by more than one signer")
	}
	if err := sd.readSignerInfo(si); err != nil {
		return nil, err
	}
	return sd, nil
}

// readSignerInfo reads a SignerInfo (RFC 5652 §5.3):
//
//	SignerInfo ::= SEQUENCE {
//	    version CMSVersion,
//	    sid SignerIdentifier,
//	    digestAlgorithm DigestAlgorithmIdentifier,
//	    signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL,
//	    signatureAlgorithm SignatureAlgorithmIdentifier,
//	    signature SignatureValue,
//	    unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
func (sd *signedData) readSignerInfo(si cryptobyte.String) error {
	var version int64
	if !si.ReadASN1Integer(&version) {
		return malformed("signer info version")
	}
	// "If the SignerIdentifier is issuerAndSerialNumber, then the version
	// MUST be 1. If the SignerIdentifier is subjectKeyIdentifier, then the
	// version MUST be 3." (RFC 5652 §5.3)
	switch {
	case si.PeekASN1Tag(cbasn1.SEQUENCE):
		var sid cryptobyte.String
		sd.serial = new(big.Int)
		if !si.ReadASN1(&sid, cbasn1.SEQUENCE) || !sid.ReadASN1Element((*cryptobyte.String)(&sd.issuer), cbasn1.SEQUENCE) ||
			!sid.ReadASN1Integer(sd.serial) || !sid.Empty() {
			return malformed("signer identifier (issuer and serial number)")
		}
		if version != 1 {
			return malformed(fmt.Sprintf("signer info version %d with issuer and serial number, want 1", version))
		}
	case si.PeekASN1Tag(tagSKI):
		if !si.ReadASN1((*cryptobyte.String)(&sd.ski), tagSKI) || len(sd.ski) == 0 {
			return malformed("signer identifier (subject key identifier)")
		}
		if version != 3 {
			return malformed(fmt.Sprintf("signer info version %d with a subject key identifier, want 3", version))
		}
	default:
		return malformed("signer identifier")
	}
	var err error
	if sd.digest, err = readDigest(&si, "digest algorithm"); err != nil {
		return err
	}
	if si.PeekASN1Tag(tag0) {
		var attrs cryptobyte.String
		if !si.ReadASN1(&attrs, tag0) {
			return malformed("signed attributes")
		}
		// What was signed is the DER of the attributes with the SET OF
		// tag, not the [0] of the SignerInfo (RFC 5652 §5.4).
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(attrs) })
		if sd.signedAttrs, err = b.Bytes(); err != nil {
			return malformed("signed attributes")
		}
		if err := sd.readAttributes(attrs); err != nil {
			return err
		}
	}
	if sd.alg, err = readSignatureAlgorithm(&si, sd.digest); err != nil {
		return err
	}
	var sig, unsigned cryptobyte.String
	if !si.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return malformed("signature value")
	}
	sd.signature = sig
	// Unsigned attributes: the signature timestamp of CAdES-T is read;
	// the signature does not cover them (RFC 5652 §5.3).
	var hasUnsigned bool
	if !si.ReadOptionalASN1(&unsigned, &hasUnsigned, tag1) || !si.Empty() {
		return malformed("data after the signature value")
	}
	if hasUnsigned {
		return sd.readUnsignedAttributes(unsigned)
	}
	return nil
}

// readAttributes reads the signed attributes esign checks. content-type
// and message-digest MUST be present (RFC 5652 §5.3), and they and
// signing-time MUST NOT appear twice nor carry more than one value
// (§11.1-§11.3): a second message digest could name another document.
func (sd *signedData) readAttributes(attrs cryptobyte.String) error {
	// The attributes esign reads, in the order of seen's bits.
	checked := []asn1.ObjectIdentifier{oidContentType, oidMessageDigest, oidSigningTime, oidSigningCertificateV2, oidSigningCertificate}
	var seen uint
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) {
			return malformed("signed attribute")
		}
		oid, ok := readOID(&attr)
		if !ok || !attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return malformed("signed attribute")
		}
		bit := uint(0)
		for i, c := range checked {
			if oidIs(oid, c) {
				bit = 1 << i
			}
		}
		if bit == 0 {
			continue
		}
		if seen&bit != 0 {
			return malformed("signed attribute " + oidString(oid) + " appears twice")
		}
		seen |= bit
		var err error
		switch {
		case oidIs(oid, oidContentType):
			// It MUST match the eContentType (RFC 5652 §11.1).
			if t, ok := readOID(&values); !ok || !oidIs(t, sd.eType) {
				err = malformed("content type attribute is not " + sd.eType.String())
			}
		case oidIs(oid, oidMessageDigest):
			var d cryptobyte.String
			if !values.ReadASN1(&d, cbasn1.OCTET_STRING) {
				err = malformed("message digest")
			}
			sd.messageDigest = d
		case oidIs(oid, oidSigningTime):
			// Time ::= CHOICE { utcTime, generalTime } (RFC 5652 §11.3).
			ok := false
			if values.PeekASN1Tag(cbasn1.UTCTime) {
				ok = values.ReadASN1UTCTime(&sd.signingTime)
			} else {
				ok = values.ReadASN1GeneralizedTime(&sd.signingTime)
			}
			if !ok {
				err = malformed("signing time")
			}
		case oidIs(oid, oidSigningCertificateV2):
			err = sd.readSigningCertificate(&values, true)
		case oidIs(oid, oidSigningCertificate):
			err = sd.readSigningCertificate(&values, false)
		}
		if err != nil {
			return err
		}
		if !values.Empty() {
			return malformed("signed attribute " + oidString(oid) + " has more than one value")
		}
	}
	if seen&0b11 != 0b11 { // content-type and message-digest
		return malformed("content type or message digest attribute missing")
	}
	return nil
}

// readSigningCertificate reads the first ESSCertID(v2) of a
// SigningCertificate(V2) value, which names the signer's certificate
// (RFC 5035 §5.4.1.1; RFC 2634 §5.4.1):
//
//	ESSCertIDv2 ::= SEQUENCE {
//	    hashAlgorithm AlgorithmIdentifier DEFAULT {algorithm id-sha256},
//	    certHash      Hash,
//	    issuerSerial  IssuerSerial OPTIONAL }
//	ESSCertID ::= SEQUENCE { certHash Hash, issuerSerial IssuerSerial OPTIONAL }
func (sd *signedData) readSigningCertificate(values *cryptobyte.String, v2 bool) error {
	name := "signing-certificate"
	if v2 {
		name += "-v2"
	}
	var sc, certs, id, h cryptobyte.String
	if !values.ReadASN1(&sc, cbasn1.SEQUENCE) || !sc.ReadASN1(&certs, cbasn1.SEQUENCE) || !certs.ReadASN1(&id, cbasn1.SEQUENCE) {
		return malformed(name)
	}
	alg := crypto.SHA256
	if v2 && id.PeekASN1Tag(cbasn1.SEQUENCE) {
		var err error
		if alg, err = readDigest(&id, name+" hash algorithm"); err != nil {
			return err
		}
	}
	if !id.ReadASN1(&h, cbasn1.OCTET_STRING) {
		return malformed(name + " hash")
	}
	var is cryptobyte.String
	if id.PeekASN1Tag(cbasn1.SEQUENCE) && !id.ReadASN1Element(&is, cbasn1.SEQUENCE) || !id.Empty() {
		return malformed(name + " issuerSerial")
	}
	if v2 {
		sd.certHash, sd.certHashAlg, sd.issuerSerial = h, alg, is
	} else {
		sd.certHashSHA1, sd.issuerSerialSHA1 = h, is
	}
	return nil
}

// namesCertificate says whether an IssuerSerial (RFC 5035 §4, RFC 2634
// §5.4.1) names cert: its serial number, and its issuer among the
// GeneralNames as a directoryName, compared as sameName compares names
// (OpenSSL compares them so too).
//
//	IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }
func namesCertificate(issuerSerial []byte, cert *x509.Certificate) bool {
	in := cryptobyte.String(issuerSerial)
	var seq, names cryptobyte.String
	serial := new(big.Int)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&names, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(serial) ||
		!seq.Empty() || serial.Cmp(cert.SerialNumber) != 0 {
		return false
	}
	for !names.Empty() {
		var dn cryptobyte.String
		var tag cbasn1.Tag
		if !names.ReadAnyASN1(&dn, &tag) {
			return false
		}
		if tag == cbasn1.Tag(4).Constructed().ContextSpecific() && sameName(dn, cert.RawIssuer) {
			return true
		}
	}
	return false
}

// findSigner picks the signer's certificate among those in the signature,
// by the SignerIdentifier; the others are candidate intermediates.
func (sd *signedData) findSigner() (*x509.Certificate, []*x509.Certificate, error) {
	var signer *x509.Certificate
	var others []*x509.Certificate
	for _, der := range sd.certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
		}
		match := false
		if sd.ski != nil {
			match = bytes.Equal(c.SubjectKeyId, sd.ski)
		} else {
			match = bytes.Equal(c.RawIssuer, sd.issuer) && c.SerialNumber.Cmp(sd.serial) == 0
		}
		if signer == nil && match {
			signer = c
		} else {
			others = append(others, c)
		}
	}
	if signer == nil {
		return nil, nil, malformed("the signer's certificate is not in the signature")
	}
	return signer, others, nil
}
