package esign_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// Signing a document as a ceremony: Begin keeps the pending signature in
// the identity store (single use, expiry, any instance may finish it) and
// checks that the card is the one enrolled on the account; the holder's
// card signs the digest; Finish assembles and verifies the .p7s and audits
// it. A second Finish of the same challenge is refused. identity/httpauth
// serves the two halves as JSON endpoints (EndpointsConfig.Signing).
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

	ceremony, err := esign.NewCeremony(svc, esign.CeremonyConfig{Cards: cards,
		Verify: esign.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates}})
	if err != nil {
		panic(err)
	}
	doc := []byte("Loan agreement 2026-1142: 12,000 EUR\n")

	// Server: begin with the card's signing certificate, as the holder's
	// agent read it.
	cert, _ := cardauth.SigningCertificate(ctx, card.Card)
	ch, err = ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: origin}, doc, cert)
	if err != nil {
		panic(err)
	}
	// Holder: SignOnCard checks that the attributes name the document shown
	// and the card's certificate, then the card signs them after the PIN.
	_, sig, err := esign.SignOnCard(ctx, card.Card, ch.Payload, doc, cardauth.PIN{Value: card.PIN})
	if err != nil {
		panic(err)
	}
	// Server: finish.
	resp := identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: sig}
	signed, err := ceremony.Finish(ctx, resp, doc)
	if err != nil {
		panic(err)
	}
	fmt.Println(signed.Report.Level, signed.Report.Signer.Equal(card.SignCert), len(signed.P7S) > 0)
	_, err = ceremony.Finish(ctx, resp, doc)
	fmt.Println(errors.Is(err, identity.ErrReplayed))

	// Another holder's card cannot sign for alice.
	other, _ := testcard.New(testcard.Options{Holder: testcard.Holder{GivenName: "Eve", Surname: "Other", SerialNumber: "PNOFR-2"}})
	_, err = ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: origin}, doc, other.SignCert)
	fmt.Println(errors.Is(err, esign.ErrUntrustedSigner) || errors.Is(err, esign.ErrNotAccountCard))
	// Output:
	// B-B true true
	// true
	// true
}
