package tsaresponder

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// NewIssued makes a P-256 key and a certificate for it issued by ca (signed
// with caKey) as RFC 3161 §2.3 wants a TSA's — the one critical extended
// key usage timeStamping — valid from a day before now for ten years, and
// returns the authority signing with them; chain (ca and what is above it,
// the root excepted) goes into its tokens. For tests and demos that have a
// test PKI and want an authority under it in one call.
func NewIssued(ca *x509.Certificate, caKey crypto.Signer, chain []*x509.Certificate, now func() time.Time) (*Responder, error) {
	if now == nil {
		now = time.Now
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tsaresponder: %w", err)
	}
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	at := now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "puce test TSA"},
		NotBefore: at.Add(-24 * time.Hour), NotAfter: at.Add(10 * 365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("tsaresponder: issue the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tsaresponder: %w", err)
	}
	return New(cert, key, chain, now), nil
}

// Certificate is the authority's certificate.
func (r *Responder) Certificate() *x509.Certificate { return r.cert }
