package testcard_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/puce-id/puce/pcsc/apdu"

	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A personalised virtual card in one call: a PIV applet with an
// authentication key (9A) and an e-signature key (9C), their certificates
// from a test PKI, and the factory PIN. Its Card is an apdu.Transport for
// the PIV client, in-process; pcsc/virtual can also put it into pcscd.
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
	fmt.Println(cert.Equal(card.AuthCert), cert.CheckSignatureFrom(card.PKI.Issuing) == nil)
	// A wrong PIN says how many tries are left, as a real card does.
	var wrong *apdu.WrongPINError
	err = c.VerifyPIN(ctx, "000000", nil)
	fmt.Println(errors.As(err, &wrong), wrong.TriesLeft)
	fmt.Println(c.VerifyPIN(ctx, card.PIN, nil))
	// Output:
	// true true
	// true 2
	// <nil>
}
