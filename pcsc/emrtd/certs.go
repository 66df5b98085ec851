package emrtd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// crypto/x509 parses and verifies certificates with RSA and NIST-curve keys
// only, yet several states' CSCAs and document signers hold Brainpool keys
// (BSI TR-03116-2). This file reads such certificates into an
// x509.Certificate by hand and verifies signatures and chains that involve
// them with the curve arithmetic PACE uses.

// ParseCertificate parses a DER X.509 certificate as crypto/x509 does, and
// also one whose public key is ECDSA on a curve crypto/x509 rejects (the
// Brainpool curves): then the fields passive authentication needs are
// filled in — Raw, RawTBSCertificate, RawSubject, RawIssuer, the names,
// serial number, validity, signature and its algorithm, basic constraints,
// key usage, subject key identifier — and PublicKey is an *ecdsa.PublicKey
// on that curve. Such a certificate verifies only through this package
// (PassiveAuthenticate), not through x509.Certificate.Verify.
func ParseCertificate(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return c, nil
	}
	if bc, bErr := parseOtherCurveCertificate(der); bErr == nil {
		return bc, nil
	}
	return nil, err
}

// certificate and tbsCertificate are RFC 5280 §4.1.
type (
	certificate struct {
		TBS       asn1.RawValue
		SigAlg    pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}
	tbsCertificate struct {
		Version    int `asn1:"optional,explicit,default:0,tag:0"`
		Serial     *big.Int
		SigAlg     pkix.AlgorithmIdentifier
		Issuer     asn1.RawValue
		Validity   struct{ NotBefore, NotAfter time.Time }
		Subject    asn1.RawValue
		SPKI       asn1.RawValue
		IssuerUID  asn1.BitString   `asn1:"optional,tag:1"`
		SubjectUID asn1.BitString   `asn1:"optional,tag:2"`
		Extensions []pkix.Extension `asn1:"optional,explicit,tag:3"`
	}
)

var (
	oidExtSubjectKeyID     = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidExtKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
)

// x509ECDSA maps the ECDSA signature OIDs to crypto/x509's names.
var x509ECDSA = map[string]x509.SignatureAlgorithm{
	"1.2.840.10045.4.1":   x509.ECDSAWithSHA1,
	"1.2.840.10045.4.3.2": x509.ECDSAWithSHA256,
	"1.2.840.10045.4.3.3": x509.ECDSAWithSHA384,
	"1.2.840.10045.4.3.4": x509.ECDSAWithSHA512,
}

func parseOtherCurveCertificate(der []byte) (*x509.Certificate, error) {
	var c certificate
	if rest, err := asn1.Unmarshal(der, &c); err != nil || len(rest) != 0 {
		return nil, malformed("certificate: %v", err)
	}
	var t tbsCertificate
	if rest, err := asn1.Unmarshal(c.TBS.FullBytes, &t); err != nil || len(rest) != 0 {
		return nil, malformed("TBSCertificate: %v", err)
	}
	if t.Serial == nil || !t.SigAlg.Algorithm.Equal(c.SigAlg.Algorithm) {
		return nil, malformed("TBSCertificate serial or signature algorithm")
	}
	curve, x, y, err := parseECSPKI(t.SPKI.FullBytes)
	if err != nil {
		return nil, err
	}
	if curve == nil {
		return nil, malformed("certificate key is neither for crypto/x509 nor on a known curve")
	}
	cert := &x509.Certificate{
		Raw:                     der,
		RawTBSCertificate:       c.TBS.FullBytes,
		RawSubjectPublicKeyInfo: t.SPKI.FullBytes,
		RawSubject:              t.Subject.FullBytes,
		RawIssuer:               t.Issuer.FullBytes,
		Signature:               c.Signature.RightAlign(),
		SignatureAlgorithm:      x509ECDSA[c.SigAlg.Algorithm.String()],
		PublicKeyAlgorithm:      x509.ECDSA,
		PublicKey:               &ecdsa.PublicKey{Curve: curve, X: x, Y: y},
		Version:                 t.Version + 1,
		SerialNumber:            t.Serial,
		NotBefore:               t.Validity.NotBefore,
		NotAfter:                t.Validity.NotAfter,
		Extensions:              t.Extensions,
	}
	for _, n := range []struct {
		raw  []byte
		name *pkix.Name
	}{{cert.RawSubject, &cert.Subject}, {cert.RawIssuer, &cert.Issuer}} {
		var rdn pkix.RDNSequence
		if rest, err := asn1.Unmarshal(n.raw, &rdn); err != nil || len(rest) != 0 {
			return nil, malformed("certificate name: %v", err)
		}
		n.name.FillFromRDNSequence(&rdn)
	}
	for _, e := range t.Extensions {
		switch {
		case e.Id.Equal(oidExtBasicConstraints):
			in := cryptobyte.String(e.Value)
			var seq cryptobyte.String
			if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
				return nil, malformed("basicConstraints")
			}
			cert.BasicConstraintsValid = true
			if seq.PeekASN1Tag(cbasn1.BOOLEAN) && !seq.ReadASN1Boolean(&cert.IsCA) {
				return nil, malformed("basicConstraints cA")
			}
		case e.Id.Equal(oidExtKeyUsage):
			var bits asn1.BitString
			if _, err := asn1.Unmarshal(e.Value, &bits); err != nil {
				return nil, malformed("keyUsage: %v", err)
			}
			for i := 0; i < 9; i++ {
				if bits.At(i) != 0 {
					cert.KeyUsage |= 1 << uint(i)
				}
			}
		case e.Id.Equal(oidExtSubjectKeyID):
			if _, err := asn1.Unmarshal(e.Value, &cert.SubjectKeyId); err != nil {
				return nil, malformed("subjectKeyIdentifier: %v", err)
			}
		}
	}
	return cert, nil
}

// nistCurve reports the curves crypto/x509 and crypto/ecdsa handle natively.
func nistCurve(c elliptic.Curve) bool {
	switch c {
	case elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521():
		return true
	}
	return false
}

// otherCurveKey reports a certificate whose key crypto/x509 cannot use.
func otherCurveKey(c *x509.Certificate) bool {
	k, ok := c.PublicKey.(*ecdsa.PublicKey)
	return ok && !nistCurve(k.Curve)
}

// verifyECDSADER verifies a DER ECDSA signature over a digest on any
// supported curve.
func verifyECDSADER(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if nistCurve(pub.Curve) {
		return ecdsa.VerifyASN1(pub, digest, sig)
	}
	r, s := new(big.Int), new(big.Int)
	in := cryptobyte.String(sig)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return false
	}
	if !pub.Curve.IsOnCurve(pub.X, pub.Y) {
		return false
	}
	return ecdsaVerify(pub.Curve, pub.X, pub.Y, digest, r, s)
}

// checkSignatureFrom checks that parent signed c, including when either key
// is on a curve crypto/x509 does not handle.
func checkSignatureFrom(c, parent *x509.Certificate) error {
	return checkSignature(parent, c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
}

// checkSignature checks a signature by the certificate's key over signed
// data (a TBSCertificate, a TBSCertList), by hand for a Brainpool key.
func checkSignature(parent *x509.Certificate, alg x509.SignatureAlgorithm, signed, sig []byte) error {
	pub, ok := parent.PublicKey.(*ecdsa.PublicKey)
	if !ok || nistCurve(pub.Curve) {
		return parent.CheckSignature(alg, signed, sig)
	}
	var h crypto.Hash
	switch alg {
	case x509.ECDSAWithSHA256:
		h = crypto.SHA256
	case x509.ECDSAWithSHA384:
		h = crypto.SHA384
	case x509.ECDSAWithSHA512:
		h = crypto.SHA512
	default:
		return fmt.Errorf("signature algorithm %v with a %s key unsupported", alg, pub.Curve.Params().Name)
	}
	d := h.New()
	d.Write(signed)
	if !verifyECDSADER(pub, d.Sum(nil), sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

// verifyChainByHand is VerifyChain for a document signer or CSCAs with keys
// crypto/x509 rejects: a CSCA whose subject is the signer's issuer, that is
// a CA allowed to sign certificates, valid at t, with a valid signature over
// the document signer certificate, itself valid at t (ICAO 9303-12 §7.1).
func verifyChainByHand(ds *x509.Certificate, cscas []*x509.Certificate, t time.Time) (*x509.Certificate, error) {
	if t.Before(ds.NotBefore) || t.After(ds.NotAfter) {
		return nil, fmt.Errorf("document signer certificate valid from %v to %v", ds.NotBefore, ds.NotAfter)
	}
	var errs []error
	for _, ca := range cscas {
		if ca == nil || string(ca.RawSubject) != string(ds.RawIssuer) {
			continue
		}
		switch {
		case !ca.BasicConstraintsValid || !ca.IsCA:
			errs = append(errs, errors.New("CSCA certificate is not a CA"))
		case ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0:
			errs = append(errs, errors.New("CSCA key may not sign certificates"))
		case t.Before(ca.NotBefore) || t.After(ca.NotAfter):
			errs = append(errs, fmt.Errorf("CSCA certificate valid from %v to %v", ca.NotBefore, ca.NotAfter))
		default:
			if err := checkSignatureFrom(ds, ca); err != nil {
				errs = append(errs, err)
				continue
			}
			return ca, nil
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no CSCA certificate names the document signer's issuer")
	}
	return nil, errors.Join(errs...)
}
