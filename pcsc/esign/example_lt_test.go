package esign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/http/httptest"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A detached signature made to outlive its certificate: LongTerm adds a
// signature timestamp, the chain and the CA's OCSP answer (CAdES-LT), and
// ArchiveTimestamped an archive timestamp over it all (CAdES-LTA). Once the
// certificate has expired and been revoked, the signature still verifies,
// with no network, as valid at the time the timestamp proves. (The signer's
// key is in software here; a card signs Pending.Digest the same way.)
func ExampleLongTerm() {
	ctx := context.Background()
	card, _ := testcard.New(testcard.Options{NoSignatureKey: true})
	pki := card.PKI
	// A certificate valid for two hours, used 12 hours ago.
	signedAt := time.Now().Add(-12 * time.Hour)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Alice"},
		NotBefore: signedAt.Add(-time.Hour), NotAfter: signedAt.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		OCSPServer: []string{"http://ocsp.ca.test/"}}, pki.Issuing, &key.PublicKey, pki.IssuingKey)
	cert, _ := x509.ParseCertificate(der)
	then := func() time.Time { return signedAt.Add(time.Minute) }
	authority, _ := tsaresponder.NewIssued(pki.Issuing, pki.IssuingKey, []*x509.Certificate{pki.Issuing}, then)
	tsaServer := httptest.NewServer(authority)
	defer tsaServer.Close()
	tsa := &esign.TSA{URL: tsaServer.URL, Roots: pki.Roots}
	ca := ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, then)

	doc := []byte("Loan agreement 2026-1142: 12,000 EUR\n")
	pending, _ := esign.Prepare(doc, cert, signedAt)
	sig, _ := key.Sign(rand.Reader, pending.Digest, crypto.SHA256)
	p7s, _ := pending.Assemble(sig, pki.Issuing)
	lt, err := esign.LongTerm(ctx, p7s, esign.LongTermOptions{TSA: tsa, OCSP: ca, Roots: pki.Roots, Now: then})
	if err != nil {
		panic(err)
	}
	lta, _, err := esign.ArchiveTimestamped(ctx, doc, lt, tsa)
	if err != nil {
		panic(err)
	}

	// Now: expired, and revoked an hour ago.
	ca.Revoke(cert.SerialNumber, time.Now().Add(-time.Hour), 1)
	rep, err := esign.Verify(doc, lta, esign.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots})
	fmt.Println(rep.Level, err, rep.Status.Good)
	_, err = esign.Verify(doc, p7s, esign.VerifyOptions{Roots: pki.Roots})
	fmt.Println(errors.Is(err, esign.ErrTimeNotProven))
	// Output:
	// B-LTA <nil> true
	// true
}
