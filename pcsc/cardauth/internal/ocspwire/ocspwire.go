// Package ocspwire holds the ASN.1 shapes of an OCSP request (RFC 6960
// §4.1.1) with the nonce extension (RFC 8954), which golang.org/x/crypto/ocsp
// neither writes nor reads. The ocsp checker builds requests with it and the test
// responder reads them.
package ocspwire

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	_ "crypto/sha1" // CertID hashes default to SHA-1 (RFC 5019 §2.1.1)
)

// OIDNonce is id-pkix-ocsp-nonce (RFC 8954 §2.1).
var oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// OIDNonce returns id-pkix-ocsp-nonce.
func OIDNonce() asn1.ObjectIdentifier { return append(asn1.ObjectIdentifier(nil), oidNonce...) }

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
