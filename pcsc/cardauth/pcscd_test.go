//go:build cgo

package cardauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/internal/pcscdtest"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestEndToEndThroughPCSCD is a card login as it happens in production,
// the reader being pcscd's virtual one: the server issues a nonce; the
// client opens the card through pcscd, verifies the PIN and signs the Web
// eID message with slot 9A; the server checks chain, OCSP and signature.
func TestEndToEndThroughPCSCD(t *testing.T) {
	pc := pcscdtest.Require(t)
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	reader := pcscdtest.Attach(t, pc, card.Card, nil)

	// Server side.
	clock := identitytest.NewClock(card.AuthCert.NotBefore.Add(time.Hour))
	store := memstore.New()
	svc := &identity.Services{Store: store, Clock: clock}
	resp := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, clock.Now)
	factor, err := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, OCSP: resp,
		OCSPResponderURL: "http://ocsp.test.invalid/"})
	if err != nil {
		t.Fatal(err)
	}

	// Client side, through pcscd.
	c, err := piv.Open(ctx, reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.Certificate(ctx, piv.SlotAuthentication)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyPIN(ctx, card.PIN, nil); err != nil {
		t.Fatal(err)
	}
	signer, err := c.Signer(piv.SlotAuthentication, cert.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	answer := func(ch *identity.Challenge) []byte {
		tok, err := cardauth.NewToken(signer, cert, origin, string(ch.Payload), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	ch, err := factor.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: answer(ch)}); err != nil {
		t.Fatalf("enrol through pcscd: %v", err)
	}
	ch, err = factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := factor.Finish(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: answer(ch)})
	if err != nil {
		t.Fatalf("login through pcscd: %v", err)
	}
	if proof.Assurance != identity.Level3 || proof.Claims["serialNumber"] != card.Holder.SerialNumber || proof.Claims["revocation"] != "good (OCSP)" {
		t.Fatalf("proof %+v", proof)
	}
	t.Logf("puce: a card login through pcscd (%s) was accepted: %s, %s, revocation %s", pcscdtest.Reader, proof.Claims["commonName"], proof.Assurance, proof.Claims["revocation"])
}
