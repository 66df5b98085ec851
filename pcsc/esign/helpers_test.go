package esign_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// cryptoSHA256 names the hash for signers in the tests.
const cryptoSHA256 = crypto.SHA256

// signerCert certifies key under the test PKI's issuing CA, as a CA would a
// signing key held in software (OpenSSL needs the private key). edit may
// change the template: key usage, extended key usage, subject key ID.
func signerCert(t testing.TB, pki testcard.PKI, key crypto.Signer, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Software signer " + serial.Text(16)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.Issuing, key.Public(), pki.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// oid is shorthand for extended key usages Go has no constant for.
func oid(ids ...int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier(ids) }

// asn1OID shortens the type in tables.
type asn1OID = asn1.ObjectIdentifier

// signedBB is a B-B signature of document made at signedAt by a fresh P-256
// key whose certificate, under pki's issuing CA, is valid from an hour
// before signedAt to an hour after (edit changes it further).
func signedBB(t *testing.T, pki testcard.PKI, signedAt time.Time, edit func(*x509.Certificate)) ([]byte, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := signerCert(t, pki, key, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = signedAt.Add(-time.Hour), signedAt.Add(time.Hour)
		if edit != nil {
			edit(c)
		}
	})
	p, err := esign.Prepare(document, cert, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := key.Sign(rand.Reader, p.Digest, crypto.SHA256)
	bb, err := p.Assemble(sig, pki.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	return bb, cert
}
