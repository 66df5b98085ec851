package esign_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocsp"
	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestVerifyRevocation: with an OCSP checker, Verify asks the signer's CA
// and refuses a revoked certificate, or one whose status is unknown, while
// still saying who signed.
func TestVerifyRevocation(t *testing.T) {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := signerCert(t, card.PKI, key, func(c *x509.Certificate) { c.OCSPServer = []string{"http://ocsp.test.invalid/"} })
	p7s := goSign(t, card.PKI, cert, key)
	resp := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
	opts := esign.VerifyOptions{Roots: card.PKI.Roots, OCSP: &ocsp.Checker{Client: resp}}

	if rep, err := esign.Verify(document, p7s, esign.VerifyOptions{Roots: card.PKI.Roots}); err != nil || rep.Revocation != nil {
		t.Fatalf("no checker: %v, revocation %+v", err, rep.Revocation)
	}
	rep, err := esign.Verify(document, p7s, opts)
	if err != nil || rep.Revocation == nil || rep.Revocation.Revoked || resp.Queries() != 1 {
		t.Fatalf("good: %v, %+v, %d queries", err, rep, resp.Queries())
	}

	resp.Misbehave(true, 0, false) // a replayable answer: no nonce
	rep, err = esign.Verify(document, p7s, opts)
	if !errors.Is(err, esign.ErrRevocationUnknown) || !errors.Is(err, ocsp.ErrUnacceptable) || rep == nil || !rep.Signer.Equal(cert) {
		t.Fatalf("nonce not echoed: %v", err)
	}
	resp.Misbehave(false, 0, true)
	if _, err = esign.Verify(document, p7s, opts); !errors.Is(err, esign.ErrRevocationUnknown) || !errors.Is(err, ocsp.ErrUnavailable) {
		t.Fatalf("responder down: %v", err)
	}

	resp.Misbehave(false, 0, false)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	resp.Revoke(cert.SerialNumber, at, 1)
	rep, err = esign.Verify(document, p7s, opts)
	if !errors.Is(err, esign.ErrRevoked) || !errors.Is(err, ocsp.ErrRevoked) || errors.Is(err, esign.ErrUntrustedSigner) ||
		rep == nil || !rep.Signer.Equal(cert) || !rep.Revocation.Revoked || !rep.Revocation.RevokedAt.Equal(at) {
		t.Fatalf("revoked: %v, %+v", err, rep)
	}
	// The document check comes first: an altered document is altered,
	// whatever the certificate's status, and costs no query.
	n := resp.Queries()
	if _, err := esign.Verify([]byte("other"), p7s, opts); !errors.Is(err, esign.ErrDocumentAltered) || resp.Queries() != n {
		t.Fatalf("altered: %v after %d queries", err, resp.Queries()-n)
	}
}
