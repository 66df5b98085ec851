package emrtdapplet

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"time"

	"github.com/osanderson/brainpool"
)

// NewBrainpoolIssuer is NewIssuer on brainpoolP256r1, as several states'
// CSCAs and document signers are (BSI TR-03116-2). crypto/x509 neither
// writes nor reads certificates with Brainpool keys, so the card encodes them
// itself (RFC 5280 §4.1, ECDSA with SHA-256, RFC 5758 §3.2) and the
// Issuer's certificates are filled in by hand: Raw, the names, serial,
// validity, key usage and public key; Raw is what a verifier must parse.
func NewBrainpoolIssuer(country string, now time.Time, rnd io.Reader) (*Issuer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if now.IsZero() {
		now = time.Now()
	}
	curve := brainpool.P256r1()
	cscaKey, err := ecdsa.GenerateKey(curve, rnd)
	if err != nil {
		return nil, err
	}
	dsKey, err := ecdsa.GenerateKey(curve, rnd)
	if err != nil {
		return nil, err
	}
	c, err := certCountry(country)
	if err != nil {
		return nil, err
	}
	cscaName := pkix.Name{Country: []string{c}, Organization: []string{"puce test state"}, CommonName: "puce test CSCA " + country + " brainpool"}
	dsName := pkix.Name{Country: []string{c}, Organization: []string{"puce test state"}, CommonName: "puce test document signer " + country + " brainpool"}
	csca, err := handCertificate(rnd, cscaName, cscaName, &cscaKey.PublicKey, cscaKey, now, true)
	if err != nil {
		return nil, err
	}
	ds, err := handCertificate(rnd, dsName, cscaName, &dsKey.PublicKey, cscaKey, now, false)
	if err != nil {
		return nil, err
	}
	return &Issuer{CSCA: csca, CSCAKey: cscaKey, DocumentSigner: ds, DocumentSignerKey: dsKey}, nil
}

var (
	oidExtBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidExtKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
)

// handCertificate encodes and signs a version 3 certificate: a CA
// (basicConstraints cA, keyCertSign and cRLSign) or a document signer
// (digitalSignature), valid from a day before now for ten years.
func handCertificate(rnd io.Reader, subject, issuer pkix.Name, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey, now time.Time, ca bool) (*x509.Certificate, error) {
	serial, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	subj, err := asn1.Marshal(subject.ToRDNSequence())
	if err != nil {
		return nil, err
	}
	iss, err := asn1.Marshal(issuer.ToRDNSequence())
	if err != nil {
		return nil, err
	}
	spki, err := ecSPKI(pub.Curve, point{pub.X, pub.Y}, false)
	if err != nil {
		return nil, err
	}
	type extension struct {
		ID       asn1.ObjectIdentifier
		Critical bool `asn1:"optional"`
		Value    []byte
	}
	usage := asn1.BitString{Bytes: []byte{0x80}, BitLength: 1} // digitalSignature
	if ca {
		usage = asn1.BitString{Bytes: []byte{0x06}, BitLength: 7} // keyCertSign, cRLSign
	}
	ku, _ := asn1.Marshal(usage)
	exts := []extension{{oidExtKeyUsage, true, ku}}
	if ca {
		bc, _ := asn1.Marshal(struct {
			CA      bool
			PathLen int
		}{true, 0})
		exts = append(exts, extension{oidExtBasicConstraints, true, bc})
	}
	notBefore, notAfter := now.Add(-24*time.Hour).UTC().Truncate(time.Second), now.AddDate(10, 0, 0).UTC().Truncate(time.Second)
	sigAlg := algID{Algorithm: oidECDSAWithSHA}
	tbs, err := asn1.Marshal(struct {
		Version  int `asn1:"explicit,tag:0"`
		Serial   *big.Int
		SigAlg   algID
		Issuer   asn1.RawValue
		Validity struct{ NotBefore, NotAfter time.Time }
		Subject  asn1.RawValue
		SPKI     asn1.RawValue
		Exts     []extension `asn1:"explicit,tag:3"`
	}{2, serial, sigAlg, asn1.RawValue{FullBytes: iss}, struct{ NotBefore, NotAfter time.Time }{notBefore, notAfter},
		asn1.RawValue{FullBytes: subj}, asn1.RawValue{FullBytes: spki}, exts})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rnd, signer, h[:])
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(struct {
		TBS    asn1.RawValue
		SigAlg algID
		Sig    asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, sigAlg, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		return nil, err
	}
	cert := &x509.Certificate{
		Raw: der, RawTBSCertificate: tbs, RawSubject: subj, RawIssuer: iss, RawSubjectPublicKeyInfo: spki,
		Signature: sig, SignatureAlgorithm: x509.ECDSAWithSHA256, PublicKeyAlgorithm: x509.ECDSA, PublicKey: pub,
		Version: 3, SerialNumber: serial, Subject: subject, Issuer: issuer, NotBefore: notBefore, NotAfter: notAfter,
		BasicConstraintsValid: ca, IsCA: ca, MaxPathLenZero: ca,
	}
	if ca {
		cert.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		cert.KeyUsage = x509.KeyUsageDigitalSignature
	}
	return cert, nil
}
