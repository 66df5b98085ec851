// Package ocspwire holds the ASN.1 shapes of an OCSP request (RFC 6960
// §4.1.1) with the nonce extension (RFC 8954), and of a response's nonce,
// which golang.org/x/crypto/ocsp neither writes nor reads. The ocsp checker
// builds requests and reads the echoed nonce with it; the test responder
// reads requests and echoes their nonce.
package ocspwire

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	_ "crypto/sha1"   // CertID hashes default to SHA-1 (RFC 5019 §2.1.1)
	_ "crypto/sha256" // and may be SHA-2
	_ "crypto/sha512"
)

// oidNonce is id-pkix-ocsp-nonce (RFC 8954 §2.1).
var oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

var oidSHA1 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}

type certID struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	IssuerKeyHash []byte
	SerialNumber  *big.Int
}

type request struct {
	Cert certID
}

type tbsRequest struct {
	Version           int              `asn1:"explicit,tag:0,default:0,optional"`
	RequestList       []request        `asn1:""`
	RequestExtensions []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

type ocspRequest struct {
	TBSRequest tbsRequest
}

type subjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// NewRequest encodes a request for the status of cert, issued by issuer,
// carrying nonce (1 to 32 bytes, RFC 8954 §2.1).
func NewRequest(cert, issuer *x509.Certificate, nonce []byte) ([]byte, error) {
	if len(nonce) < 1 || len(nonce) > 32 {
		return nil, errors.New("ocspwire: nonce must be 1 to 32 bytes")
	}
	var spki subjectPublicKeyInfo
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("ocspwire: issuer public key: %w", err)
	}
	h := crypto.SHA1.New()
	h.Write(issuer.RawSubject)
	nameHash := h.Sum(nil)
	h.Reset()
	h.Write(spki.PublicKey.RightAlign())
	keyHash := h.Sum(nil)
	value, err := asn1.Marshal(nonce)
	if err != nil {
		return nil, err
	}
	req := ocspRequest{TBSRequest: tbsRequest{
		RequestList: []request{{Cert: certID{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue},
			NameHash:      nameHash, IssuerKeyHash: keyHash, SerialNumber: cert.SerialNumber,
		}}},
		RequestExtensions: []pkix.Extension{{Id: oidNonce, Value: value}},
	}}
	return asn1.Marshal(req)
}

// RequestNonce returns the nonce of a DER request, nil when it has none.
func RequestNonce(der []byte) ([]byte, error) {
	var req ocspRequest
	rest, err := asn1.Unmarshal(der, &req)
	if err != nil {
		return nil, fmt.Errorf("ocspwire: request: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("ocspwire: trailing data after the request")
	}
	for _, ext := range req.TBSRequest.RequestExtensions {
		if ext.Id.Equal(oidNonce) {
			return NonceValue(ext.Value)
		}
	}
	return nil, nil
}

// NonceValue decodes the extnValue of a nonce extension: an OCTET STRING
// (RFC 8954 §2.1).
func NonceValue(v []byte) ([]byte, error) {
	var n []byte
	rest, err := asn1.Unmarshal(v, &n)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("ocspwire: nonce is not an OCTET STRING")
	}
	return n, nil
}

// A response's nonce goes in the responseExtensions of its ResponseData
// (RFC 6960 §4.4.1: "in responses it would be included as one of the
// responseExtensions"; RFC 8954 §2.1), which golang.org/x/crypto/ocsp
// neither writes nor reads (its Extensions are the singleExtensions of one
// SingleResponse). OpenSSL's responder, like any that follows the RFC,
// echoes it there.

type responseData struct {
	Version            int `asn1:"optional,explicit,default:0,tag:0"`
	ResponderID        asn1.RawValue
	ProducedAt         time.Time `asn1:"generalized"`
	Responses          []asn1.RawValue
	ResponseExtensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type responseBytes struct {
	Type     asn1.ObjectIdentifier
	Response []byte
}

type ocspResponse struct {
	Status asn1.Enumerated
	Bytes  responseBytes `asn1:"explicit,tag:0,optional"`
}

type basicResponse struct {
	TBS       asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
	Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

// ResponseNonce returns the nonce among the responseExtensions of tbs, a
// DER ResponseData (x/crypto/ocsp's Response.TBSResponseData, whose
// signature the caller has checked); nil when there is none.
func ResponseNonce(tbs []byte) ([]byte, error) {
	var rd responseData
	rest, err := asn1.Unmarshal(tbs, &rd)
	if err != nil {
		return nil, fmt.Errorf("ocspwire: response data: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("ocspwire: trailing data after the response data")
	}
	for _, ext := range rd.ResponseExtensions {
		if ext.Id.Equal(oidNonce) {
			return NonceValue(ext.Value)
		}
	}
	return nil, nil
}

// signatureHashes are the hashes of the signature algorithms
// x/crypto/ocsp signs responses with (RFC 5758 §3.2, RFC 4055 §5).
var signatureHashes = map[string]crypto.Hash{
	"1.2.840.10045.4.3.2": crypto.SHA256, "1.2.840.10045.4.3.3": crypto.SHA384, "1.2.840.10045.4.3.4": crypto.SHA512,
	"1.2.840.113549.1.1.11": crypto.SHA256, "1.2.840.113549.1.1.12": crypto.SHA384, "1.2.840.113549.1.1.13": crypto.SHA512,
}

// SetResponseNonce returns resp, a DER OCSPResponse as x/crypto/ocsp makes
// it, with nonce among its responseExtensions, signed again by signer with
// the algorithm it was signed with.
func SetResponseNonce(resp, nonce []byte, signer crypto.Signer) ([]byte, error) {
	return Rewrite(resp, time.Time{}, nonce, signer)
}

// Rewrite returns resp, a DER OCSPResponse as x/crypto/ocsp makes it, with
// producedAt (unless zero) and nonce (unless nil, among its
// responseExtensions), signed again by signer with the algorithm it was
// signed with. x/crypto/ocsp sets producedAt to the wall clock truncated
// to the minute, which puts it before the thisUpdate of a response made in
// the same minute: a responder signs a response after the status it states
// was known (RFC 6960 §4.2.2.1: producedAt is when it was signed), and
// NSS, for one, rejects such a response.
func Rewrite(resp []byte, producedAt time.Time, nonce []byte, signer crypto.Signer) ([]byte, error) {
	var or ocspResponse
	if rest, err := asn1.Unmarshal(resp, &or); err != nil || len(rest) != 0 {
		return nil, errors.New("ocspwire: not an OCSPResponse")
	}
	var br basicResponse
	if rest, err := asn1.Unmarshal(or.Bytes.Response, &br); err != nil || len(rest) != 0 {
		return nil, errors.New("ocspwire: not a BasicOCSPResponse")
	}
	var rd responseData
	if rest, err := asn1.Unmarshal(br.TBS.FullBytes, &rd); err != nil || len(rest) != 0 {
		return nil, errors.New("ocspwire: not a ResponseData")
	}
	if !producedAt.IsZero() {
		rd.ProducedAt = producedAt.UTC().Truncate(time.Second)
	}
	if nonce != nil {
		value, err := asn1.Marshal(nonce)
		if err != nil {
			return nil, err
		}
		rd.ResponseExtensions = append(rd.ResponseExtensions, pkix.Extension{Id: oidNonce, Value: value})
	}
	tbs, err := asn1.Marshal(rd)
	if err != nil {
		return nil, err
	}
	h, ok := signatureHashes[br.Algorithm.Algorithm.String()]
	if !ok {
		return nil, fmt.Errorf("ocspwire: signature algorithm %v", br.Algorithm.Algorithm)
	}
	d := h.New()
	d.Write(tbs)
	sig, err := signer.Sign(rand.Reader, d.Sum(nil), h)
	if err != nil {
		return nil, fmt.Errorf("ocspwire: sign: %w", err)
	}
	br.TBS = asn1.RawValue{FullBytes: tbs}
	br.Signature = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	if or.Bytes.Response, err = asn1.Marshal(br); err != nil {
		return nil, err
	}
	return asn1.Marshal(or)
}

type singleResponse struct {
	CertID     certID
	Status     asn1.RawValue
	ThisUpdate time.Time        `asn1:"generalized"`
	NextUpdate time.Time        `asn1:"generalized,explicit,tag:0,optional"`
	Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

// certIDHashes are the hash algorithms a CertID may name (RFC 6960 §4.1.1
// leaves it open; SHA-1 is what RFC 5019 §2.1.1 profiles).
var certIDHashes = map[string]crypto.Hash{
	"1.3.14.3.2.26": crypto.SHA1, "2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384, "2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// CheckCertID checks that the first SingleResponse of tbs (a DER
// ResponseData) about serial — the one golang.org/x/crypto/ocsp reads —
// names issuer in its CertID: the hashes of its name and of its public key
// (RFC 6960 §4.1.1; §3.2 item 1: the certificate identified in the
// response is the one asked about). x/crypto/ocsp matches the serial
// alone, so an answer about another CA's certificate of the same serial,
// signed by a key the two CAs share, would pass.
func CheckCertID(tbs []byte, serial *big.Int, issuer *x509.Certificate) error {
	var rd responseData
	if rest, err := asn1.Unmarshal(tbs, &rd); err != nil || len(rest) != 0 {
		return errors.New("ocspwire: not a ResponseData")
	}
	var spki subjectPublicKeyInfo
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return fmt.Errorf("ocspwire: issuer public key: %w", err)
	}
	for _, raw := range rd.Responses {
		var sr singleResponse
		if rest, err := asn1.Unmarshal(raw.FullBytes, &sr); err != nil || len(rest) != 0 {
			return errors.New("ocspwire: not a SingleResponse")
		}
		if sr.CertID.SerialNumber == nil || sr.CertID.SerialNumber.Cmp(serial) != 0 {
			continue
		}
		h, ok := certIDHashes[sr.CertID.HashAlgorithm.Algorithm.String()]
		if !ok || !h.Available() {
			return fmt.Errorf("ocspwire: CertID hash %v", sr.CertID.HashAlgorithm.Algorithm)
		}
		d := h.New()
		d.Write(issuer.RawSubject)
		name := d.Sum(nil)
		d.Reset()
		d.Write(spki.PublicKey.RightAlign())
		if !bytes.Equal(name, sr.CertID.NameHash) || !bytes.Equal(d.Sum(nil), sr.CertID.IssuerKeyHash) {
			return errors.New("ocspwire: the answer is about a certificate of another issuer")
		}
		return nil
	}
	return errors.New("ocspwire: no answer about this serial number")
}
