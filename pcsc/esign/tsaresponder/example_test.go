package tsaresponder_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/esign/tsaresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// A test's own timestamping authority: a TSA certificate issued by the
// test PKI, served over HTTP, asked by esign.TSA as a signer asks a real
// one, and its token checked against the PKI's root.
func ExampleNewIssued() {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		panic(err)
	}
	tsa, err := tsaresponder.NewIssued(card.PKI.Issuing, card.PKI.IssuingKey, []*x509.Certificate{card.PKI.Issuing}, time.Now)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(tsa)
	defer srv.Close()

	digest := sha256.Sum256([]byte("the signature value to stamp"))
	client := &esign.TSA{URL: srv.URL, Roots: card.PKI.Roots}
	token, ts, err := client.Stamp(context.Background(), crypto.SHA256, digest[:])
	if err != nil {
		panic(err)
	}
	fmt.Println("stamped by:", ts.Authority.Subject.CommonName == tsa.Certificate().Subject.CommonName)
	fmt.Println("token:", len(token) > 0, "within a minute:", time.Since(ts.Time) < time.Minute)
	// Output:
	// stamped by: true
	// token: true within a minute: true
}
