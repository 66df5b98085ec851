package piv_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"

	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A login-shaped exchange against a personalised virtual card: select the
// PIV application, show the holder the tries left, verify the PIN once,
// sign with the authentication key. With a reader, pass a pcsc card as the
// transport instead.
func Example() {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		panic(err)
	}
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		panic(err)
	}
	cert, err := c.Certificate(ctx, piv.SlotAuthentication)
	if err != nil {
		panic(err)
	}
	st, _ := c.PINStatus(ctx)
	fmt.Println("holder:", cert.Subject.CommonName, "- PIN tries left:", st.TriesLeft)

	if err := c.VerifyPIN(ctx, card.PIN, nil); err != nil {
		panic(err)
	}
	signer, err := c.Signer(piv.SlotAuthentication, cert.PublicKey, nil)
	if err != nil {
		panic(err)
	}
	digest := sha256.Sum256([]byte("challenge"))
	sig, err := signer.SignContext(ctx, digest[:], crypto.SHA256)
	if err != nil {
		panic(err)
	}
	fmt.Println("signature verifies:", ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig))
	// Output:
	// holder: MARTIN,ALICE,PNOFR-2900175123456 - PIN tries left: 3
	// signature verifies: true
}
