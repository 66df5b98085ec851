package esign_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A ceremony given no Verify.OCSP asks the card factor's responder about
// the signer, so a card revoked since its enrolment signs nothing, as it
// logs in nowhere; before, the ceremony's own options had to name the
// checker again, and without them a revoked card signed.
func TestCeremonyRefusesRevokedSignerByDefault(t *testing.T) {
	ctx := context.Background()
	const origin = "https://bank.example"
	card, err := testcard.New(testcard.Options{OCSPURL: "http://ocsp.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	responder := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
	store := memstore.New()
	svc := &identity.Services{Store: store}
	cards, err := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, OCSP: responder})
	if err != nil {
		t.Fatal(err)
	}
	ceremony, err := esign.NewCeremony(svc, esign.CeremonyConfig{Cards: cards, Verify: esign.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates}})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := cards.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cards.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok}); err != nil {
		t.Fatal(err)
	}
	doc := []byte("Loan agreement 2026-1142")
	sign := func() error {
		ch, err := ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: origin}, doc, card.SignCert)
		if err != nil {
			return err
		}
		_, sig, err := esign.SignOnCard(ctx, card.Card, ch.Payload, doc, cardauth.PIN{Value: card.PIN})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ceremony.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: sig}, doc)
		return err
	}
	if err := sign(); err != nil {
		t.Fatalf("a good signer: %v", err)
	}
	responder.Revoke(card.SignCert.SerialNumber, time.Now().Add(-time.Minute), 1)
	if err := sign(); !errors.Is(err, esign.ErrRevoked) {
		t.Fatalf("a revoked signer: %v, want ErrRevoked", err)
	}
}
