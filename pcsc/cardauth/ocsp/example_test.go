package ocsp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A relying party asks the card certificate's OCSP responder, over HTTP,
// whether the certificate is still good; the Checker judges the signed
// answer (its signer, its age, the nonce it echoes) before trusting it.
// Here a test CA's responder runs on a local server.
func ExampleChecker() {
	card, err := testcard.New(testcard.Options{})
	if err != nil {
		panic(err)
	}
	responder := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, time.Now)
	srv := httptest.NewServer(responder)
	defer srv.Close()

	checker := &ocsp.Checker{ResponderURL: srv.URL} // the default Client is HTTP
	ctx := context.Background()
	r, err := checker.Check(ctx, card.AuthCert, card.PKI.Issuing, time.Now())
	fmt.Println("revoked:", r.Revoked, err)

	responder.Revoke(card.AuthCert.SerialNumber, time.Now().Add(-time.Minute), 1) // keyCompromise
	_, err = checker.Check(ctx, card.AuthCert, card.PKI.Issuing, time.Now())
	fmt.Println("after revocation:", errors.Is(err, ocsp.ErrRevoked))
	// Output:
	// revoked: false <nil>
	// after revocation: true
}
