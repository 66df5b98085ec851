package ocspresponder_test

import (
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestProducedAt: a response is signed when the status it states was
// known, by the responder's clock: producedAt is not before thisUpdate
// (RFC 6960 §4.2.2.1), which NSS requires (pdfsig reported "Unknown issue
// with Certificate" for cards this responder vouched for, whenever it
// answered in the minute its thisUpdate fell in), and a stale answer is
// produced when it claims to be, with or without a nonce.
func TestProducedAt(t *testing.T) {
	card, err := testcard.New(testcard.Options{OCSPURL: "http://ocsp.test.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2031, 5, 4, 12, 0, 45, 0, time.UTC)
	r := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, func() time.Time { return clock })
	for _, c := range []struct {
		omitNonce bool
		age       time.Duration
	}{{false, 0}, {true, 0}, {false, 20 * time.Minute}} {
		r.Misbehave(c.omitNonce, c.age, false)
		req, err := ocsp.CreateRequest(card.AuthCert, card.PKI.Issuing, nil)
		if err != nil {
			t.Fatal(err)
		}
		der, err := r.Respond(req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ocsp.ParseResponse(der, card.PKI.Issuing)
		if err != nil {
			t.Fatal(err)
		}
		if want := clock.Add(-c.age); !resp.ProducedAt.Equal(want) || resp.ProducedAt.Before(resp.ThisUpdate) {
			t.Fatalf("nonce omitted %v, age %v: producedAt %v, thisUpdate %v, want producedAt %v", c.omitNonce, c.age, resp.ProducedAt, resp.ThisUpdate, want)
		}
	}
}
