package pades_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/pades"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// Signing a PDF as a ceremony: Begin keeps what the signature needs in the
// identity store (single use, expiry, any instance may finish it), checks
// that the card is the one enrolled on the account, and gives the holder's
// side the PDF's size, hash and page count and the digest — never the PDF;
// the card signs the digest; Finish puts the signature in the PDF, brings it
// to the level (here B-T, with a test timestamping authority) and verifies
// it. identity/httpauth serves the two halves (EndpointsConfig.Signing.PDF).
func ExampleCeremony() {
	ctx := context.Background()
	const origin = "https://bank.example"
	card, _ := testcard.New(testcard.Options{})
	svc := &identity.Services{Store: memstore.New()}
	cards, _ := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, SkipRevocation: true})

	// alice's card is enrolled on her account (a card login's token).
	ch, _ := cards.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	tok, _ := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if _, err := cards.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok}); err != nil {
		panic(err)
	}
	tsa, _ := tsaresponder.NewIssued(card.PKI.Issuing, card.PKI.IssuingKey, []*x509.Certificate{card.PKI.Issuing}, nil)
	srv := httptest.NewServer(tsa)
	defer srv.Close()

	ceremony, err := pades.NewCeremony(svc, pades.CeremonyConfig{Cards: cards, Level: pades.LevelBT,
		Services: pades.Services{TSA: &esign.TSA{URL: srv.URL, Roots: card.PKI.Roots}},
		Verify:   pades.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates},
		Chain:    []*x509.Certificate{card.PKI.Issuing},
		Sign:     pades.SignOptions{Reason: "Loan agreement"}})
	if err != nil {
		panic(err)
	}
	pdf, _ := os.ReadFile("testdata/contract.pdf")

	// Server: begin with the card's signing certificate, as the holder's
	// agent read it.
	cert, _ := cardauth.SigningCertificate(ctx, card.Card)
	ch, err = ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: origin}, pdf, cert)
	if err != nil {
		panic(err)
	}
	// Holder: SignOnCard checks that the digest is that of a signature of
	// this PDF with this card, then the card signs it after the PIN. The
	// holder is shown the PDF's size, hash, pages and level.
	req, sig, err := pades.SignOnCard(ctx, card.Card, ch.Payload, pdf, cardauth.PIN{Value: card.PIN})
	if err != nil {
		panic(err)
	}
	fmt.Println(req.Size == len(pdf), req.Pages, req.Level)
	// Server: finish, with the PDF it holds.
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: sig}
	signed, err := ceremony.Finish(ctx, resp, pdf)
	if err != nil {
		panic(err)
	}
	fmt.Println(signed.Report.Valid(), signed.Report.Level, signed.Report.WholeDocument, signed.Report.Timestamp != nil)
	_, err = ceremony.Finish(ctx, resp, pdf)
	fmt.Println(errors.Is(err, identity.ErrReplayed))
	// Output:
	// true 1 B-T
	// true B-T true true
	// true
}
