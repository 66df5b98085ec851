package cardauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/apdu"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// The holder's side of a card login in one call: LoginToken selects the
// PIV application, reads the 9A certificate, verifies the PIN and signs the
// server's nonce for the page's origin. The card here is puce's virtual
// card in-process; a card agent passes a pcsc.Tx instead. A wrong PIN says
// how many tries are left and is never retried.
func ExampleLoginToken() {
	ctx := context.Background()
	card, _ := testcard.New(testcard.Options{})
	svc := &identity.Services{Store: memstore.New()}
	factor, _ := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, SkipRevocation: true})
	const origin = "https://bank.example"

	ch, _ := factor.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	_, err := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: "99999999"}, nil)
	var wrong *apdu.WrongPINError
	fmt.Println(errors.As(err, &wrong), wrong.TriesLeft)

	tok, err := cardauth.LoginToken(ctx, card.Card, origin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
	if err != nil {
		panic(err)
	}
	// The token is JSON: it goes into a request body as an object.
	body, _ := json.Marshal(map[string]any{"challengeId": ch.ID, "response": tok})
	fmt.Println(json.Valid(body))
	cred, err := factor.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok})
	if err != nil {
		panic(err)
	}
	c, _ := cardauth.CardOf(cred)
	fmt.Println(c.Mode)
	// Output:
	// true 2
	// true
	// certificate
}

// The holder's side of a document signature: SigningCertificate reads the
// 9C certificate the server prepares the signature for (esign), and
// SignDigest has the card sign the prepared digest after the PIN, which
// that key asks for every signature.
func ExampleSignDigest() {
	ctx := context.Background()
	card, _ := testcard.New(testcard.Options{})
	cert, err := cardauth.SigningCertificate(ctx, card.Card)
	if err != nil {
		panic(err)
	}
	digest := sha256.Sum256([]byte("the signed attributes a server prepared"))
	sig, _, err := cardauth.SignDigest(ctx, card.Card, digest[:], crypto.SHA256, cert, cardauth.PIN{Value: card.PIN})
	if err != nil {
		panic(err)
	}
	fmt.Println(ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig))
	fmt.Println(cardauth.PIN{Value: card.PIN}) // a PIN never prints
	// Output:
	// true
	// [PIN]
}
