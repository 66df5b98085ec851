package cardauth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// testPKI is a root CA, an issuing CA under it and a delegated OCSP
// responder, as a bank's card PKI would have.
type testPKI struct {
	root, issuing, responder          *x509.Certificate
	rootKey, issuingKey, responderKey *ecdsa.PrivateKey
	roots, intermediates              *x509.CertPool
	now                               time.Time
}

func nextSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	return n.Add(n, big.NewInt(1))
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPKI(t testing.TB, now time.Time) *testPKI {
	p := &testPKI{rootKey: newKey(t), issuingKey: newKey(t), responderKey: newKey(t), now: now}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"puce test bank"}},
			NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	rt := ca("puce test root")
	p.root = sign(t, rt, rt, &p.rootKey.PublicKey, p.rootKey)
	p.issuing = sign(t, ca("puce test issuing CA"), p.root, &p.issuingKey.PublicKey, p.rootKey)
	p.responder = sign(t, &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "puce test OCSP"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}, p.issuing, &p.responderKey.PublicKey, p.issuingKey)
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.root)
	p.intermediates = x509.NewCertPool()
	p.intermediates.AddCert(p.issuing)
	return p
}

// leafOpts change a card certificate from the usual one.
type leafOpts struct {
	key                 crypto.Signer
	notBefore, notAfter time.Time
	keyUsage            x509.KeyUsage
	extKeyUsage         []x509.ExtKeyUsage
	selfSigned          bool
}

// card issues a card authentication certificate for a holder.
func (p *testPKI) card(t testing.TB, holder string, o leafOpts) (*x509.Certificate, crypto.Signer) {
	if o.key == nil {
		o.key = newKey(t)
	}
	if o.notBefore.IsZero() {
		o.notBefore = p.now.Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = p.now.Add(3 * 365 * 24 * time.Hour)
	}
	if o.keyUsage == 0 {
		o.keyUsage = x509.KeyUsageDigitalSignature
	}
	if o.extKeyUsage == nil {
		o.extKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(),
		Subject: pkix.Name{CommonName: holder, Country: []string{"FR"},
			ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: []int{2, 5, 4, 42}, Value: "Alice"}, {Type: []int{2, 5, 4, 4}, Value: "Martin"},
				{Type: []int{2, 5, 4, 5}, Value: "PNOFR-" + holder}}},
		NotBefore: o.notBefore, NotAfter: o.notAfter, KeyUsage: o.keyUsage, ExtKeyUsage: o.extKeyUsage,
		Policies:   []x509.OID{mustOID(t, "1.3.6.1.4.1.99999.1")},
		OCSPServer: []string{"http://ocsp.invalid/"}}
	if o.selfSigned {
		return sign(t, tmpl, tmpl, o.key.Public(), o.key), o.key
	}
	return sign(t, tmpl, p.issuing, o.key.Public(), p.issuingKey), o.key
}

func mustOID(t testing.TB, s string) x509.OID {
	o, err := x509.ParseOID(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
