package pades_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http/httptest"
	"os"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// Signing a PDF with a card's e-signature key (PIV slot 9C) at PAdES B-LT:
// the server prepares the signature field and keeps the PDF; the card signs
// the digest after its PIN; the server finishes — the CMS, a signature
// timestamp, the chain and the CA's OCSP answer in the document security
// store — and anyone verifies it, with no network, for as long as the
// timestamping authority's key is trusted. Here the card is puce's virtual
// card, the CA's OCSP responder and the timestamping authority are puce's
// test ones.
func Example() {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{OCSPURL: "http://ocsp.ca.test/"})
	if err != nil {
		panic(err)
	}
	ocspResponder := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
	authority, err := tsaresponder.NewIssued(card.PKI.Issuing, card.PKI.IssuingKey, []*x509.Certificate{card.PKI.Issuing}, nil)
	if err != nil {
		panic(err)
	}
	tsaServer := httptest.NewServer(authority)
	defer tsaServer.Close()
	services := pades.Services{
		TSA:   &esign.TSA{URL: tsaServer.URL, Roots: card.PKI.Roots},
		OCSP:  ocspResponder, // in-process; ocsp.HTTP{} asks the URL in the certificate
		Roots: card.PKI.Roots,
	}
	contract, err := os.ReadFile("testdata/contract.pdf")
	if err != nil {
		panic(err)
	}

	// Server: prepare. The PDF stays here; the agent needs only the digest.
	pending, err := pades.Prepare(contract, pades.SignOptions{Certificate: card.SignCert, Level: pades.LevelBLT, Reason: "Loan agreement 2026-1142"})
	if err != nil {
		panic(err)
	}

	// Holder's side: the card signs the digest; slot 9C asks the PIN for
	// every signature.
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		panic(err)
	}
	signer, err := c.Signer(piv.SlotSignature, card.SignCert.PublicKey, &piv.SignerOptions{
		PIN: func(context.Context) (string, error) { return card.PIN, nil }})
	if err != nil {
		panic(err)
	}
	sig, err := signer.SignContext(ctx, pending.Digest, pending.SignerOpts())
	if err != nil {
		panic(err)
	}

	// Server: finish, then verify as a receiver would.
	signed, err := pades.Finish(ctx, pending, sig, []*x509.Certificate{card.PKI.Issuing}, services)
	if err != nil {
		panic(err)
	}
	rep, err := pades.Verify(ctx, signed, pades.VerifyOptions{Roots: card.PKI.Roots, TSARoots: card.PKI.Roots})
	if err != nil {
		panic(err)
	}
	s := rep.Signatures[0]
	fmt.Println(s.Level, s.Valid(), s.Signer.Equal(card.SignCert), s.Status.Good, s.ChangedAfterSigning)
	// Output:
	// B-LT true true true false
}
