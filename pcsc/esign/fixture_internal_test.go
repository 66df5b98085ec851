package esign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// timestampFixture is a signer and a timestamping authority under one test
// PKI, for the package's internal tests.
type timestampFixture struct {
	doc   []byte
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	pki   testcard.PKI
	roots *x509.CertPool
	tsa   *TSA
}

func newTimestampFixture(t *testing.T) *timestampFixture {
	t.Helper()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &timestampFixture{doc: []byte("a contract"), pki: card.PKI, roots: x509.NewCertPool()}
	f.roots.AddCert(f.pki.Root)
	issue := func(tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, f.pki.Issuing, pub, f.pki.IssuingKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	f.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.cert = issue(&x509.Certificate{SerialNumber: big.NewInt(11), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}, &f.key.PublicKey)
	tsaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	tsaCert := issue(&x509.Certificate{SerialNumber: big.NewInt(12), Subject: pkix.Name{CommonName: "TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}}}, &tsaKey.PublicKey)
	srv := httptest.NewServer(tsaresponder.New(tsaCert, tsaKey, []*x509.Certificate{f.pki.Issuing}, nil))
	t.Cleanup(srv.Close)
	f.tsa = &TSA{URL: srv.URL, Roots: f.roots}
	return f
}

// sign makes a detached signature of the fixture's document.
func (f *timestampFixture) sign(t *testing.T) []byte {
	t.Helper()
	p, err := Prepare(f.doc, f.cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := f.key.Sign(rand.Reader, p.Digest, crypto.SHA256)
	p7s, err := p.Assemble(sig, f.pki.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	return p7s
}
