package pades_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// exampleSigner is a test PKI, its OCSP responder and timestamping
// authority, and a signer whose key is in software (a card signs
// Pending.Digest the same way).
func exampleSigner() (*x509.Certificate, *ecdsa.PrivateKey, testcard.PKI, pades.Services, func()) {
	card, _ := testcard.New(testcard.Options{NoSignatureKey: true})
	pki := card.PKI
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "Alice Martin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		OCSPServer: []string{"http://ocsp.ca.test/"}}, pki.Issuing, &key.PublicKey, pki.IssuingKey)
	cert, _ := x509.ParseCertificate(der)
	authority, _ := tsaresponder.NewIssued(pki.Issuing, pki.IssuingKey, []*x509.Certificate{pki.Issuing}, nil)
	srv := httptest.NewServer(authority)
	svc := pades.Services{TSA: &esign.TSA{URL: srv.URL, Roots: pki.Roots},
		OCSP: ocspresponder.New(pki.Issuing, pki.IssuingKey, nil, nil), Roots: pki.Roots}
	return cert, key, pki, svc, srv.Close
}

// Renewing an archive: a B-LTA document gets the validation data of its
// document timestamp, then a new document timestamp over everything, before
// the first authority's key or algorithms weaken. Every earlier byte stays.
func ExampleAddDocumentTimestamp() {
	ctx := context.Background()
	cert, key, pki, svc, stop := exampleSigner()
	defer stop()
	contract, _ := os.ReadFile("testdata/contract.pdf")
	pending, _ := pades.Prepare(contract, pades.SignOptions{Certificate: cert, Level: pades.LevelBLTA})
	sig, _ := key.Sign(rand.Reader, pending.Digest, pending.SignerOpts())
	archived, err := pades.Finish(ctx, pending, sig, []*x509.Certificate{pki.Issuing}, svc)
	if err != nil {
		panic(err)
	}

	// Years later:
	withData, err := pades.AddValidationData(ctx, archived, svc)
	if err != nil {
		panic(err)
	}
	renewed, err := pades.AddDocumentTimestamp(ctx, withData, svc.TSA)
	if err != nil {
		panic(err)
	}
	rep, _ := pades.Verify(ctx, renewed, pades.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots})
	for _, s := range rep.Signatures {
		fmt.Println(s.Field, s.DocumentTimestamp, s.Level, s.Valid(), s.WholeDocument)
	}
	fmt.Println(bytes.HasPrefix(renewed, archived))
	// Output:
	// Signature1 false B-LTA true false
	// Signature2 true B-T true false
	// Signature3 true B-T true true
	// true
}

// A pending signature kept in a challenge store between the request that
// prepares it and the one that brings the card's signature back, possibly
// on another server: it travels as bytes, and reading it back recomputes
// what the card signs from the stored document.
func ExamplePending_MarshalBinary() {
	cert, key, pki, svc, stop := exampleSigner()
	defer stop()
	contract, _ := os.ReadFile("testdata/contract.pdf")
	pending, _ := pades.Prepare(contract, pades.SignOptions{Certificate: cert, Level: pades.LevelBT})
	stored, _ := pending.MarshalBinary() // into the store, with the challenge

	// The next request: the agent returns the card's signature of the
	// digest it was given.
	back, err := pades.UnmarshalPending(stored)
	if err != nil {
		panic(err)
	}
	sig, _ := key.Sign(rand.Reader, back.Digest, back.SignerOpts())
	signed, err := pades.Finish(context.Background(), back, sig, []*x509.Certificate{pki.Issuing}, svc)
	if err != nil {
		panic(err)
	}
	rep, _ := pades.Verify(context.Background(), signed, pades.VerifyOptions{Roots: pki.Roots, TSARoots: pki.Roots})
	fmt.Println(bytes.Equal(back.Digest, pending.Digest), rep.Signatures[0].Level, rep.Signatures[0].Valid())
	// Output:
	// true B-T true
}

// A second signer's visible signature drawn over the page the first one
// signed: signing after a signature is permitted, so the first signature
// stays valid, and its report says what now draws over its page, where,
// and in which signature's field. A receiver shows that, or the signed
// revision itself: the file's first SignedLength bytes.
func ExampleVerify_overlays() {
	ctx := context.Background()
	sign := func(pdf []byte, ap *pades.Appearance) ([]byte, testcard.PKI) {
		cert, key, pki, svc, stop := exampleSigner()
		defer stop()
		pending, err := pades.Prepare(pdf, pades.SignOptions{Certificate: cert, Level: pades.LevelBT, Appearance: ap})
		if err != nil {
			panic(err)
		}
		sig, _ := key.Sign(rand.Reader, pending.Digest, pending.SignerOpts())
		out, err := pades.Finish(ctx, pending, sig, []*x509.Certificate{pki.Issuing}, svc)
		if err != nil {
			panic(err)
		}
		return out, pki
	}
	contract, _ := os.ReadFile("testdata/contract.pdf")
	first, pki1 := sign(contract, nil)
	both, pki2 := sign(first, &pades.Appearance{Rect: [4]float64{60, 690, 540, 780}, Lines: []string{"Amount: 92,000 EUR"}})

	roots := pki1.Roots.Clone()
	roots.AddCert(pki2.Root)
	rep, err := pades.Verify(ctx, both, pades.VerifyOptions{Roots: roots, TSARoots: roots})
	if err != nil {
		panic(err)
	}
	s := rep.Signatures[0]
	fmt.Println(s.Field, s.Valid(), s.ChangedAfterSigning, s.SignedLength == int64(len(first)))
	for _, o := range s.Overlays {
		fmt.Println("page", o.Page, o.Rect, o.Annotation, o.Field)
	}
	// Output:
	// Signature1 true false true
	// page 1 [60 690 540 780] Widget Signature2
}
