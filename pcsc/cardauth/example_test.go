package cardauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/pcsc/cardauth"
)

// A card login: the server issues a nonce, the holder's machine signs it with
// the card (here a software key standing in for PIV slot 9A), the server
// checks the token. This card's certificate is self-issued, so its key is
// pinned at enrolment; cards of a CA are checked against Config.Roots and
// OCSP instead.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	svc := &identity.Services{Store: store}
	factor, err := cardauth.New(svc, cardauth.Config{AllowSelfIssued: true})
	if err != nil {
		panic(err)
	}

	// The card: a key and a self-signed authentication certificate.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Alice Martin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)

	const origin = "https://bank.example"
	ceremony := func(begin func() (*identity.Challenge, error)) identity.Response {
		ch, err := begin()
		if err != nil {
			panic(err)
		}
		// Client side: ch.Payload is the nonce; NewToken signs it for the origin.
		tok, err := cardauth.NewToken(key, cert, origin, string(ch.Payload), nil)
		if err != nil {
			panic(err)
		}
		return identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok}
	}

	cred, err := factor.FinishEnroll(ctx, ceremony(func() (*identity.Challenge, error) {
		return factor.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
	}))
	if err != nil {
		panic(err)
	}
	card, _ := cardauth.CardOf(cred)
	fmt.Println("enrolled:", card.Mode, card.Subject)

	proof, err := factor.Finish(ctx, ceremony(func() (*identity.Challenge, error) {
		return factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
	}))
	if err != nil {
		panic(err)
	}
	fmt.Println("login:", proof.Subject, proof.Assurance, proof.Claims["commonName"])
	// Output:
	// enrolled: pinned-key CN=Alice Martin
	// login: alice AAL3 Alice Martin
}
