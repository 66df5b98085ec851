package emrtd

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	// Hash implementations the security object may name.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Object identifiers of EF.SOD (ICAO 9303-10 §4.6.2; RFC 5652; RFC 8017;
// RFC 5758; BSI TR-03111 §5.2.1 for the plain ECDSA signatures).
var (
	oidSignedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidLDSSecurityObj   = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	oidAttrContentType  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigst = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidRSAEncryption    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECPublicKey      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// hashByOID names the digest algorithms of the security object.
func hashByOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, h := range []struct {
		oid asn1.ObjectIdentifier
		h   crypto.Hash
	}{
		{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, crypto.SHA1},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}, crypto.SHA224},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, crypto.SHA256},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, crypto.SHA384},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, crypto.SHA512},
	} {
		if oid.Equal(h.oid) {
			return h.h, true
		}
	}
	return 0, false
}

// sigScheme is how a signature algorithm OID verifies.
type sigScheme int

const (
	schemePKCS1 sigScheme = iota + 1
	schemePSS
	schemeECDSA      // DER-encoded (r, s)
	schemeECDSAPlain // r ‖ s (BSI TR-03111)
)

// sigAlgorithm maps a signature algorithm OID to its scheme and hash; hash 0
// means the SignerInfo's digest algorithm.
func sigAlgorithm(oid asn1.ObjectIdentifier) (sigScheme, crypto.Hash, bool) {
	rsa := func(n int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, n} }
	ec := func(a ...int) asn1.ObjectIdentifier { return append(asn1.ObjectIdentifier{1, 2, 840, 10045, 4}, a...) }
	plain := func(n int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, n} }
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		s   sigScheme
		h   crypto.Hash
	}{
		{oidRSAEncryption, schemePKCS1, 0},
		{rsa(5), schemePKCS1, crypto.SHA1},
		{rsa(14), schemePKCS1, crypto.SHA224},
		{rsa(11), schemePKCS1, crypto.SHA256},
		{rsa(12), schemePKCS1, crypto.SHA384},
		{rsa(13), schemePKCS1, crypto.SHA512},
		{oidRSAPSS, schemePSS, 0},
		{oidECPublicKey, schemeECDSA, 0},
		{ec(1), schemeECDSA, crypto.SHA1},
		{ec(3, 1), schemeECDSA, crypto.SHA224},
		{ec(3, 2), schemeECDSA, crypto.SHA256},
		{ec(3, 3), schemeECDSA, crypto.SHA384},
		{ec(3, 4), schemeECDSA, crypto.SHA512},
		{plain(1), schemeECDSAPlain, crypto.SHA1},
		{plain(2), schemeECDSAPlain, crypto.SHA224},
		{plain(3), schemeECDSAPlain, crypto.SHA256},
		{plain(4), schemeECDSAPlain, crypto.SHA384},
		{plain(5), schemeECDSAPlain, crypto.SHA512},
	} {
		if oid.Equal(a.oid) {
			return a.s, a.h, true
		}
	}
	return 0, 0, false
}

// ASN.1 structures of RFC 5652 §5 and ICAO 9303-10 §4.6.2.3.
type (
	contentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	signedData struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		EncapContentInfo encapContentInfo
		Certificates     asn1.RawValue `asn1:"optional,tag:0"`
		CRLs             asn1.RawValue `asn1:"optional,tag:1"`
		SignerInfos      []signerInfo  `asn1:"set"`
	}
	encapContentInfo struct {
		EContentType asn1.ObjectIdentifier
		EContent     []byte `asn1:"explicit,optional,tag:0"`
	}
	signerInfo struct {
		Version            int
		SID                asn1.RawValue
		DigestAlgorithm    pkix.AlgorithmIdentifier
		SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
		SignatureAlgorithm pkix.AlgorithmIdentifier
		Signature          []byte
		UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
	}
	attribute struct {
		Type   asn1.ObjectIdentifier
		Values asn1.RawValue `asn1:"set"`
	}
	issuerAndSerial struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}
	ldsSecurityObject struct {
		Version             int
		HashAlgorithm       pkix.AlgorithmIdentifier
		DataGroupHashValues []dataGroupHash
		LDSVersionInfo      asn1.RawValue `asn1:"optional"`
	}
	dataGroupHash struct {
		DataGroupNumber    int
		DataGroupHashValue []byte
	}
	pssParams struct {
		Hash       pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
		MGF        pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
		SaltLength int                      `asn1:"optional,explicit,tag:2,default:20"`
		Trailer    int                      `asn1:"optional,explicit,tag:3,default:1"`
	}
)

// SOD is a decoded EF.SOD: the document security object signed by the
// document signer (ICAO 9303-10 §4.6.2). ParseSOD checks its structure only;
// Verify checks signature and chain.
type SOD struct {
	// Signer is the document signer certificate embedded in EF.SOD.
	Signer *x509.Certificate
	// HashAlgorithm hashes the data groups.
	HashAlgorithm crypto.Hash
	// Hashes holds each data group's hash as signed.
	Hashes map[DG][]byte
	// LDSVersion is "" for a version 0 security object.
	LDSVersion string

	content    []byte // the encapsulated LDSSecurityObject
	signed     []byte // DER of the signed attributes as a SET, or content
	digestHash crypto.Hash
	scheme     sigScheme
	sigHash    crypto.Hash
	pss        *rsa.PSSOptions
	signature  []byte
	msgDigest  []byte
}

// ParseSOD decodes EF.SOD: 77 { ContentInfo { signedData, SignedData {
// LDSSecurityObject } } } (ICAO 9303-10 §4.6.2, RFC 5652).
func ParseSOD(b []byte) (*SOD, error) {
	v, err := outer(b, 0x77)
	if err != nil {
		return nil, err
	}
	s, err := parseSignedData(v, oidLDSSecurityObj, "EF.SOD")
	if err != nil {
		return nil, err
	}
	var lso ldsSecurityObject
	if rest, err := asn1.Unmarshal(s.content, &lso); err != nil || len(rest) != 0 {
		return nil, malformed("LDS security object: %v", err)
	}
	h, ok := hashByOID(lso.HashAlgorithm.Algorithm)
	if !ok || !h.Available() {
		return nil, malformed("LDS security object hash %v unsupported", lso.HashAlgorithm.Algorithm)
	}
	s.HashAlgorithm = h
	s.Hashes = map[DG][]byte{}
	for _, d := range lso.DataGroupHashValues {
		dg := DG(d.DataGroupNumber)
		if !dg.Valid() || len(d.DataGroupHashValue) != h.Size() {
			return nil, malformed("LDS security object entry for data group %d", d.DataGroupNumber)
		}
		if _, dup := s.Hashes[dg]; dup {
			return nil, malformed("LDS security object lists %v twice", dg)
		}
		s.Hashes[dg] = d.DataGroupHashValue
	}
	if len(lso.LDSVersionInfo.FullBytes) > 0 {
		var vi struct{ LDSVersion, UnicodeVersion string }
		if _, err := asn1.Unmarshal(lso.LDSVersionInfo.FullBytes, &vi); err == nil {
			s.LDSVersion = vi.LDSVersion
		}
	}
	return s, nil
}

// parseSignedData decodes a ContentInfo holding a SignedData with one
// SignerInfo, its signer's certificate and an encapsulated content of the
// given type (RFC 5652 §5; EF.SOD and CSCA master lists, ICAO 9303-12
// §8.2). The signature is not checked.
func parseSignedData(v []byte, eContentType asn1.ObjectIdentifier, what string) (*SOD, error) {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(v, &ci); err != nil || len(rest) != 0 {
		return nil, malformed("%s ContentInfo: %v", what, err)
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, malformed("%s content type %v is not signedData", what, ci.ContentType)
	}
	var sd signedData
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) != 0 {
		return nil, malformed("%s SignedData: %v", what, err)
	}
	if !sd.EncapContentInfo.EContentType.Equal(eContentType) || len(sd.EncapContentInfo.EContent) == 0 {
		return nil, malformed("%s does not encapsulate %v", what, eContentType)
	}
	if len(sd.SignerInfos) != 1 {
		// ICAO 9303-10 §4.6.2.2, 9303-12 §8.2: exactly one SignerInfo.
		return nil, malformed("%s has %d SignerInfos, want 1", what, len(sd.SignerInfos))
	}
	s := &SOD{content: sd.EncapContentInfo.EContent}
	if len(sd.Certificates.Bytes) == 0 {
		return nil, malformed("%s carries no signer certificate", what)
	}
	certs, err := parseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, err
	}
	si := sd.SignerInfos[0]
	if s.Signer = signerCert(si.SID, certs); s.Signer == nil {
		return nil, malformed("%s signer not among its certificates", what)
	}
	var ok bool
	if s.digestHash, ok = hashByOID(si.DigestAlgorithm.Algorithm); !ok || !s.digestHash.Available() {
		return nil, malformed("%s digest algorithm %v unsupported", what, si.DigestAlgorithm.Algorithm)
	}
	if s.scheme, s.sigHash, ok = sigAlgorithm(si.SignatureAlgorithm.Algorithm); !ok {
		return nil, malformed("%s signature algorithm %v unsupported", what, si.SignatureAlgorithm.Algorithm)
	}
	if s.sigHash == 0 {
		s.sigHash = s.digestHash
	}
	if s.scheme == schemePSS {
		if s.sigHash, s.pss, err = parsePSS(si.SignatureAlgorithm.Parameters.FullBytes); err != nil {
			return nil, err
		}
	}
	s.signature = si.Signature
	s.signed = s.content
	if len(si.SignedAttrs.FullBytes) > 0 {
		// The signature covers the DER of the attributes with the SET tag,
		// not the [0] IMPLICIT tag they travel under (RFC 5652 §5.4).
		s.signed = bytes.Clone(si.SignedAttrs.FullBytes)
		s.signed[0] = 0x31
		var attrs []attribute
		if rest, err := asn1.UnmarshalWithParams(s.signed, &attrs, "set"); err != nil || len(rest) != 0 {
			return nil, malformed("%s signed attributes: %v", what, err)
		}
		var ct asn1.ObjectIdentifier
		for _, a := range attrs {
			switch {
			case a.Type.Equal(oidAttrContentType):
				if _, err := asn1.Unmarshal(a.Values.Bytes, &ct); err != nil {
					return nil, malformed("%s content-type attribute: %v", what, err)
				}
			case a.Type.Equal(oidAttrMessageDigst):
				if _, err := asn1.Unmarshal(a.Values.Bytes, &s.msgDigest); err != nil {
					return nil, malformed("%s message-digest attribute: %v", what, err)
				}
			}
		}
		if !ct.Equal(eContentType) || s.msgDigest == nil {
			return nil, malformed("%s signed attributes lack content type or message digest", what)
		}
	}
	return s, nil
}

// parseCertificates parses the concatenated certificates of a SignedData,
// with ParseCertificate so that Brainpool keys are read too.
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for len(b) > 0 {
		var raw asn1.RawValue
		rest, err := asn1.Unmarshal(b, &raw)
		if err != nil {
			return nil, malformed("EF.SOD certificates: %v", err)
		}
		c, err := ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, malformed("EF.SOD certificate: %v", err)
		}
		certs, b = append(certs, c), rest
	}
	return certs, nil
}

// parsePSS reads RSASSA-PSS-params (RFC 8017 §A.2.3).
func parsePSS(params []byte) (crypto.Hash, *rsa.PSSOptions, error) {
	p := pssParams{SaltLength: 20, Trailer: 1}
	if len(params) > 0 {
		if _, err := asn1.Unmarshal(params, &p); err != nil {
			return 0, nil, malformed("RSASSA-PSS parameters: %v", err)
		}
	}
	h := crypto.SHA1
	if len(p.Hash.Algorithm) > 0 {
		var ok bool
		if h, ok = hashByOID(p.Hash.Algorithm); !ok {
			return 0, nil, malformed("RSASSA-PSS hash %v unsupported", p.Hash.Algorithm)
		}
	}
	if len(p.MGF.Algorithm) > 0 && !p.MGF.Algorithm.Equal(oidMGF1) || p.Trailer != 1 || p.SaltLength < 0 {
		return 0, nil, malformed("RSASSA-PSS parameters unsupported")
	}
	return h, &rsa.PSSOptions{SaltLength: p.SaltLength, Hash: h}, nil
}

// signerCert finds the certificate a SignerIdentifier names: issuer and
// serial number, or [0] subject key identifier (RFC 5652 §5.3).
func signerCert(sid asn1.RawValue, certs []*x509.Certificate) *x509.Certificate {
	if sid.Class == asn1.ClassContextSpecific && sid.Tag == 0 {
		for _, c := range certs {
			if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, sid.Bytes) {
				return c
			}
		}
		return nil
	}
	var ias issuerAndSerial
	if _, err := asn1.Unmarshal(sid.FullBytes, &ias); err != nil || ias.Serial == nil {
		return nil
	}
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, ias.Issuer.FullBytes) && c.SerialNumber.Cmp(ias.Serial) == 0 {
			return c
		}
	}
	return nil
}

// VerifySignature checks the SignerInfo: the message digest attribute binds
// the security object, and the document signer's signature covers the
// signed attributes (RFC 5652 §5.4, §5.6).
func (s *SOD) VerifySignature() error {
	if s.msgDigest != nil {
		h := s.digestHash.New()
		h.Write(s.content)
		if subtle.ConstantTimeCompare(h.Sum(nil), s.msgDigest) != 1 {
			return fmt.Errorf("%w: message digest does not match the security object", ErrSignature)
		}
	}
	if !s.sigHash.Available() {
		return fmt.Errorf("%w: hash %v unavailable", ErrSignature, s.sigHash)
	}
	h := s.sigHash.New()
	h.Write(s.signed)
	digest := h.Sum(nil)
	var ok bool
	switch pub := s.Signer.PublicKey.(type) {
	case *rsa.PublicKey:
		switch s.scheme {
		case schemePKCS1:
			ok = rsa.VerifyPKCS1v15(pub, s.sigHash, digest, s.signature) == nil
		case schemePSS:
			ok = rsa.VerifyPSS(pub, s.sigHash, digest, s.signature, s.pss) == nil
		}
	case *ecdsa.PublicKey:
		switch s.scheme {
		case schemeECDSA:
			ok = verifyECDSADER(pub, digest, s.signature)
		case schemeECDSAPlain:
			n := len(s.signature) / 2
			if plainLength(pub.Curve, s.signature) {
				r, ss := new(big.Int).SetBytes(s.signature[:n]), new(big.Int).SetBytes(s.signature[n:])
				if nistCurve(pub.Curve) {
					ok = ecdsa.Verify(pub, digest, r, ss)
				} else {
					ok = pub.Curve.IsOnCurve(pub.X, pub.Y) && ecdsaVerify(pub.Curve, pub.X, pub.Y, digest, r, ss)
				}
			}
		}
	default:
		return fmt.Errorf("%w: document signer key %T unsupported", ErrSignature, pub)
	}
	if !ok {
		return fmt.Errorf("%w: signature does not verify under the document signer certificate", ErrSignature)
	}
	return nil
}

// VerifyChain checks that the document signer certificate was issued by one
// of the CSCA certificates and is valid at t, and returns that CSCA (ICAO
// 9303-11 §5.1.1 step 2; the DS validity covers the documents it signed,
// ICAO 9303-12 §5.3, so checking at the current time is right).
func (s *SOD) VerifyChain(cscas []*x509.Certificate, t time.Time) (*x509.Certificate, error) {
	if len(cscas) == 0 {
		return nil, fmt.Errorf("%w: no CSCA certificate configured", ErrUntrustedSigner)
	}
	if err := signerProfile(s.Signer); err != nil {
		return nil, err
	}
	// crypto/x509 cannot check signatures by Brainpool keys: such links are
	// checked by hand, the others by crypto/x509.
	var other []*x509.Certificate
	for _, c := range cscas {
		if c != nil && otherCurveKey(c) {
			other = append(other, c)
		}
	}
	if otherCurveKey(s.Signer) {
		ca, err := verifyChainByHand(s.Signer, cscas, t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUntrustedSigner, err)
		}
		return ca, nil
	}
	roots := x509.NewCertPool()
	for _, c := range cscas {
		if c != nil {
			roots.AddCert(c)
		}
	}
	chains, err := s.Signer.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: t,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		if len(other) > 0 {
			if ca, err2 := verifyChainByHand(s.Signer, other, t); err2 == nil {
				return ca, nil
			}
		}
		return nil, fmt.Errorf("%w: %w", ErrUntrustedSigner, err)
	}
	return chains[0][len(chains[0])-1], nil
}

// signerProfile checks that a certificate is an end entity that may sign
// documents: ICAO 9303-12 §7.1.1 (8th edition) profiles the document signer
// (and the master list signer) with key usage digitalSignature and no CA
// basic constraints, and the CSCA with keyCertSign and cRLSign. A CSCA
// signing EF.SOD with its own certificate, or another certificate it issued
// for another purpose, chains to it all the same; this tells them apart. A
// certificate without the key usage extension is let through, as older
// document signers were issued without it.
func signerProfile(c *x509.Certificate) error {
	if c.BasicConstraintsValid && c.IsCA {
		return fmt.Errorf("%w: the signer certificate is a CA's, not a document signer's", ErrUntrustedSigner)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: the signer certificate's key usage lacks digitalSignature", ErrUntrustedSigner)
	}
	return nil
}

// CheckDataGroup compares a data group's bytes, as read, with its hash in
// the security object. A data group absent from it gives ErrHashMissing, a
// different hash ErrHashMismatch, both within a *DataGroupError.
func (s *SOD) CheckDataGroup(dg DG, data []byte) error {
	want, ok := s.Hashes[dg]
	if !ok {
		return &DataGroupError{DG: dg, Err: ErrHashMissing}
	}
	h := s.HashAlgorithm.New()
	h.Write(data)
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		return &DataGroupError{DG: dg, Err: ErrHashMismatch}
	}
	return nil
}

// VerificationStatus says how far passive authentication went.
type VerificationStatus int

const (
	// NotChecked: no CSCA certificate was given; the data is unverified.
	NotChecked VerificationStatus = iota
	// Verified: EF.SOD's signature verifies, its signer chains to a given
	// CSCA, and every data group's hash matches.
	Verified
	// Failed: passive authentication failed; see Verification.Err.
	Failed
)

func (s VerificationStatus) String() string {
	switch s {
	case Verified:
		return "verified"
	case Failed:
		return "failed"
	}
	return "not checked"
}

// Verification is the outcome of passive authentication.
type Verification struct {
	Status VerificationStatus
	// Err is the failure when Status is Failed; it matches ErrPassiveAuth.
	Err error
	// Signer is the document signer certificate, CSCA the trust anchor it
	// chains to (nil unless that step passed).
	Signer *x509.Certificate
	CSCA   *x509.Certificate
	// DataGroups lists the data groups whose hashes matched.
	DataGroups []DG
	// Covered lists every data group EF.SOD holds a hash for, read or
	// not: what the document carries, as its issuer signed it (a receiver
	// learns from it, for example, that the chip has an Active
	// Authentication key).
	Covered []DG
}

// PassiveOptions configures passive authentication.
type PassiveOptions struct {
	// CSCAs are the trusted country signing CA certificates.
	CSCAs []*x509.Certificate
	// Time is when the document signer certificate must be valid; the zero
	// value means now.
	Time time.Time
	// CRLs are certificate revocation lists of the CSCAs (ICAO 9303-12
	// §7.1.4); a document signer listed on its CSCA's CRL fails with
	// ErrRevoked.
	CRLs []*x509.RevocationList
}

// PassiveAuthenticate runs passive authentication (ICAO 9303-11 §5.1) over
// EF.SOD and the data groups read (their bytes as stored, outer tag
// included): signature, chain to a CSCA, and every data group's hash present
// and matching. It returns the verification in every case, and the failure
// (matching ErrPassiveAuth, or ErrMalformed for an undecodable EF.SOD) as
// the error too.
func PassiveAuthenticate(sod []byte, groups map[DG][]byte, opts PassiveOptions) (*Verification, error) {
	fail := func(v *Verification, err error) (*Verification, error) {
		v.Status, v.Err = Failed, err
		return v, err
	}
	v := &Verification{}
	s, err := ParseSOD(sod)
	if err != nil {
		return fail(v, fmt.Errorf("%w: %w", ErrPassiveAuth, err))
	}
	v.Signer = s.Signer
	for dg := range s.Hashes {
		v.Covered = append(v.Covered, dg)
	}
	slices.Sort(v.Covered)
	if v.CSCA, err = verifySigner(s, opts); err != nil {
		return fail(v, err)
	}
	dgs := make([]DG, 0, len(groups))
	for dg := range groups {
		dgs = append(dgs, dg)
	}
	slices.Sort(dgs)
	var errs []error
	for _, dg := range dgs {
		if err := s.CheckDataGroup(dg, groups[dg]); err != nil {
			errs = append(errs, err)
			continue
		}
		v.DataGroups = append(v.DataGroups, dg)
	}
	if len(errs) > 0 {
		return fail(v, errors.Join(errs...))
	}
	if err := checkCountry(s.Signer, groups[DG1]); err != nil {
		return fail(v, err)
	}
	v.Status = Verified
	return v, nil
}

// verifySigner runs the signer's checks of passive authentication (ICAO
// 9303-11 §5.1.1) on a SignedData: the signature, the chain to one of the
// CSCAs at opts.Time (now when zero), and the CSCA's revocation list
// (ICAO 9303-12 §7.1.4). It returns the CSCA once the chain holds, also
// when the signer is revoked. EF.SOD and EF.CardSecurity, both signed by
// the document signer, share it.
func verifySigner(s *SOD, opts PassiveOptions) (*x509.Certificate, error) {
	if err := s.VerifySignature(); err != nil {
		return nil, err
	}
	t := opts.Time
	if t.IsZero() {
		t = time.Now()
	}
	ca, err := s.VerifyChain(opts.CSCAs, t)
	if err != nil {
		return nil, err
	}
	return ca, checkRevocation(s.Signer, ca, opts.CRLs)
}

// checkCountry checks the document signer's countryName: ICAO 9303-12
// §7.1.1 profiles CSCA and document signer certificates with the issuing
// state's ISO 3166-1 alpha-2 code as countryName, the same in issuer and
// subject, so the signer must name the country of its CSCA and, when DG1
// was read (and has passed its hash check), the issuing state of the MRZ
// (ICAO 9303-3 code, mapped by CountryAlpha2). An issuing organisation
// without an alpha-2 code (ICAO 9303-3 §5 Part D) leaves nothing to
// compare; a code outside ICAO 9303-3 is refused.
func checkCountry(ds *x509.Certificate, dg1 []byte) error {
	c, ic := ds.Subject.Country, ds.Issuer.Country
	if len(c) != 1 || len(ic) != 1 || !strings.EqualFold(c[0], ic[0]) {
		return fmt.Errorf("%w: the document signer names %q, its CSCA %q", ErrCountryMismatch, c, ic)
	}
	if dg1 == nil {
		return nil
	}
	m, err := ParseDG1(dg1)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPassiveAuth, &DataGroupError{DG: DG1, Err: err})
	}
	switch a2, known := countryAlpha2(m.IssuingState); {
	case !known:
		return fmt.Errorf("%w: issuing state %q is no ICAO 9303-3 code", ErrCountryMismatch, m.IssuingState)
	case a2 != "" && !strings.EqualFold(a2, c[0]):
		return fmt.Errorf("%w: DG1 names issuing state %s (%s), the document signer %s", ErrCountryMismatch, m.IssuingState, a2, c[0])
	}
	return nil
}
