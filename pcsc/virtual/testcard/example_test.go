package testcard_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/puce-id/puce/pcsc/apdu"

	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A personalised virtual card in one call: a PIV applet with an
// authentication key (9A), an e-signature key (9C) and the card
// authentication key (9E), their certificates from a test PKI, the signed
// CHUID and Security Object, and the factory PIN. Its Card is an
// apdu.Transport for the PIV client, in-process; pcsc/virtual can also put
// it into pcscd.
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

// A card for a chosen holder, with an RSA e-signature key and its own PIN:
// the certificates name the holder as European eID cards do, and chain to
// the card's test PKI.
func ExampleNew() {
	card, err := testcard.New(testcard.Options{
		Holder:  testcard.Holder{GivenName: "Alice", Surname: "Martin", SerialNumber: "PNOFR-1234567890", Country: "FR"},
		SignAlg: pivapplet.AlgRSA2048,
		PIN:     "246810",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(card.AuthCert.Subject.CommonName)
	fmt.Println(card.SignCert.PublicKeyAlgorithm, card.SignCert.CheckSignatureFrom(card.PKI.Issuing) == nil)
	fmt.Println(card.PIN)
	// Output:
	// Martin,Alice,PNOFR-1234567890
	// RSA true
	// 246810
}
