package esign_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// Signing a document with a card's e-signature key (PIV slot 9C): the server
// prepares the signed attributes, the card signs their digest after its PIN,
// the server assembles the detached .p7s, and anyone verifies it against
// the card CA. Here the card is puce's virtual card.
func Example() {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		panic(err)
	}
	doc := []byte("Loan agreement 2026-1142: 12,000 EUR\n")

	// Server: prepare for the holder's signing certificate.
	pending, err := esign.Prepare(doc, card.SignCert, time.Now())
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

	// Server: assemble, then verify as a receiver would.
	p7s, err := pending.Assemble(sig, card.PKI.Issuing)
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(card.PKI.Root)
	rep, err := esign.Verify(doc, p7s, esign.VerifyOptions{Roots: roots})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Level, rep.Signer.Subject.CommonName == card.SignCert.Subject.CommonName)
	_, err = esign.Verify([]byte("Loan agreement 2026-1142: 92,000 EUR\n"), p7s, esign.VerifyOptions{Roots: roots})
	fmt.Println(err)
	// Output:
	// B-B true
	// esign: the document was altered after it was signed, or is another document
}
