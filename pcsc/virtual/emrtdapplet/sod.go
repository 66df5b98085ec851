package emrtdapplet

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"sort"
	"time"

	"github.com/puce-id/puce/pcsc/emrtd"
)

// Issuer is a test issuing state's PKI: the country signing CA (CSCA) and a
// document signer (DS) it certified (ICAO 9303-12 §5). Personalise makes one
// per card unless Options.Issuer shares one between cards.
type Issuer struct {
	CSCA              *x509.Certificate
	CSCAKey           crypto.Signer
	DocumentSigner    *x509.Certificate
	DocumentSignerKey crypto.Signer
}

// NewIssuer creates a CSCA and a document signer for the country (an ICAO
// 9303-3 code such as "UTO" or "D", named in the certificates by its ISO
// 3166-1 alpha-2 code), ECDSA P-256, valid from a day before now for ten
// years. rand is crypto/rand when nil.
func NewIssuer(country string, now time.Time, rnd io.Reader) (*Issuer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if now.IsZero() {
		now = time.Now()
	}
	cscaKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	dsKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, err
	}
	c, err := certCountry(country)
	if err != nil {
		return nil, err
	}
	serial := func() (*big.Int, error) { return rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 64)) }
	s1, err := serial()
	if err != nil {
		return nil, err
	}
	csca := &x509.Certificate{
		SerialNumber:          s1,
		Subject:               pkix.Name{Country: []string{c}, Organization: []string{"puce test state"}, CommonName: "puce test CSCA " + country},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	cscaDER, err := x509.CreateCertificate(rnd, csca, csca, cscaKey.Public(), cscaKey)
	if err != nil {
		return nil, err
	}
	cscaCert, err := x509.ParseCertificate(cscaDER)
	if err != nil {
		return nil, err
	}
	s2, err := serial()
	if err != nil {
		return nil, err
	}
	ds := &x509.Certificate{
		SerialNumber: s2,
		Subject:      pkix.Name{Country: []string{c}, Organization: []string{"puce test state"}, CommonName: "puce test document signer " + country},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	dsDER, err := x509.CreateCertificate(rnd, ds, cscaCert, dsKey.Public(), cscaKey)
	if err != nil {
		return nil, err
	}
	dsCert, err := x509.ParseCertificate(dsDER)
	if err != nil {
		return nil, err
	}
	return &Issuer{CSCA: cscaCert, CSCAKey: cscaKey, DocumentSigner: dsCert, DocumentSignerKey: dsKey}, nil
}

// certCountry is the X.509 countryName of a state's CSCA and document
// signer: the ISO 3166-1 alpha-2 code of its ICAO 9303-3 code (ICAO 9303-12
// §7.1.1), from pcsc/emrtd's table, the one a verifier checks against DG1.
// Truncating would be wrong: SWE is SE, and AU is Australia, not AUT.
func certCountry(icao string) (string, error) {
	c, ok := emrtd.CountryAlpha2(icao)
	if !ok {
		return "", fmt.Errorf("%w: no ISO 3166-1 alpha-2 code for the issuing state %q", ErrProfile, icao)
	}
	return c, nil
}

var (
	oidSHA256         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSAWithSHA   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSignedDataType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidLDSSO          = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	oidContentType    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
)

type algID struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

// signSOD builds EF.SOD: 77 { ContentInfo { signedData, SignedData {
// LDSSecurityObject v0 with SHA-256 hashes, the DS certificate, one
// SignerInfo with content-type, signing-time and message-digest attributes,
// ECDSA with SHA-256 } } } (ICAO 9303-10 §4.6.2, RFC 5652).
func signSOD(is *Issuer, groups map[int][]byte, now time.Time, rnd io.Reader) ([]byte, error) {
	type dgHash struct {
		N    int
		Hash []byte
	}
	var nums []int
	for n := range groups {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var hashes []dgHash
	for _, n := range nums {
		h := sha256.Sum256(groups[n])
		hashes = append(hashes, dgHash{n, h[:]})
	}
	lso, err := asn1.Marshal(struct {
		Version int
		Hash    algID
		Hashes  []dgHash
	}{0, algID{Algorithm: oidSHA256}, hashes})
	if err != nil {
		return nil, err
	}
	ci, err := signCMS(is, oidLDSSO, lso, now, rnd)
	if err != nil {
		return nil, err
	}
	if len(ci) > 0xFFFF {
		return nil, fmt.Errorf("%w: EF.SOD too large", ErrProfile)
	}
	return tlv(0x77, ci), nil
}

// oidCSCAMasterList is id-icao-cscaMasterList (ICAO 9303-12 §8.2).
var oidCSCAMasterList = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 2}

// MasterList builds a CSCA master list (ICAO 9303-12 §8.2): a CMS
// SignedData over CscaMasterList { version 0, certList SET OF Certificate }.
// The issuer's document signer signs it, standing in for a master list
// signer (whose certificate would carry the master list signing extended
// key usage): a test fixture, not a conformant master list.
func (is *Issuer) MasterList(now time.Time, rnd io.Reader, cscas ...*x509.Certificate) ([]byte, error) {
	var certs [][]byte
	for _, c := range cscas {
		certs = append(certs, c.Raw)
	}
	sort.Slice(certs, func(i, j int) bool { return bytes.Compare(certs[i], certs[j]) < 0 })
	list, err := asn1.Marshal(struct {
		Version int
		Certs   asn1.RawValue
	}{0, asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(certs, nil)}})
	if err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	return signCMS(is, oidCSCAMasterList, list, now, rnd)
}

// signCMS signs content of the given type into a ContentInfo with one
// SignerInfo by the issuer's document signer: content-type, signing-time and
// message-digest attributes, ECDSA with SHA-256 (RFC 5652).
func signCMS(is *Issuer, contentType asn1.ObjectIdentifier, lso []byte, now time.Time, rnd io.Reader) ([]byte, error) {
	digest := sha256.Sum256(lso)
	attr := func(oid asn1.ObjectIdentifier, v any) ([]byte, error) {
		val, err := asn1.Marshal(v)
		if err != nil {
			return nil, err
		}
		return asn1.Marshal(struct {
			Type   asn1.ObjectIdentifier
			Values asn1.RawValue
		}{oid, asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: val}})
	}
	var attrs [][]byte
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		v   any
	}{{oidContentType, contentType}, {oidSigningTime, now.UTC()}, {oidMessageDigest, digest[:]}} {
		b, err := attr(a.oid, a.v)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, b)
	}
	// DER orders the elements of a SET OF by their encodings (X.690 §11.6).
	sort.Slice(attrs, func(i, j int) bool { return bytes.Compare(attrs[i], attrs[j]) < 0 })
	attrSet := bytes.Join(attrs, nil)
	toSign, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: attrSet})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(toSign)
	sig, err := is.DocumentSignerKey.Sign(rnd, h[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	type issuerSerial struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}
	signer := struct {
		Version     int
		SID         issuerSerial
		Digest      algID
		SignedAttrs asn1.RawValue
		SigAlg      algID
		Signature   []byte
	}{
		Version:     1,
		SID:         issuerSerial{asn1.RawValue{FullBytes: is.DocumentSigner.RawIssuer}, is.DocumentSigner.SerialNumber},
		Digest:      algID{Algorithm: oidSHA256},
		SignedAttrs: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: attrSet},
		SigAlg:      algID{Algorithm: oidECDSAWithSHA},
		Signature:   sig,
	}
	signerDER, err := asn1.Marshal(signer)
	if err != nil {
		return nil, err
	}
	digestAlgs, err := asn1.Marshal(algID{Algorithm: oidSHA256})
	if err != nil {
		return nil, err
	}
	encap, err := asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content []byte `asn1:"explicit,tag:0"`
	}{contentType, lso})
	if err != nil {
		return nil, err
	}
	sd, err := asn1.Marshal(struct {
		Version     int
		DigestAlgs  asn1.RawValue
		Encap       asn1.RawValue
		Certs       asn1.RawValue
		SignerInfos asn1.RawValue
	}{
		Version:     3,
		DigestAlgs:  asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: digestAlgs},
		Encap:       asn1.RawValue{FullBytes: encap},
		Certs:       asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: is.DocumentSigner.Raw},
		SignerInfos: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: signerDER},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}{oidSignedDataType, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
}
