package signsrv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/cardauth/ocspresponder"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// TestVerifyPageRevocation: the verify page reports what the library's OCSP
// checker found, through a loopback responder.
func TestVerifyPageRevocation(t *testing.T) {
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(31), Subject: pkix.Name{CommonName: "Signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature},
		card.PKI.Issuing, &key.PublicKey, card.PKI.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	doc := []byte("a document")
	p, err := esign.Prepare(doc, cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := key.Sign(rand.Reader, p.Digest, p.SignerOpts())
	p7s, err := p.Assemble(sig, card.PKI.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	resp := ocspresponder.New(card.PKI.Issuing, card.PKI.IssuingKey, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, err := resp.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Origin: "http://localhost", Roots: card.PKI.Roots, OCSPURL: url})
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what, verdict, status string) {
		t.Helper()
		d := s.verify(ctx, doc, p7s)
		if !strings.HasPrefix(d.Verdict, verdict) || !strings.HasPrefix(d.Status, status) || d.Signer != "Signer" {
			t.Fatalf("%s: verdict %q, status %q, signer %q", what, d.Verdict, d.Status, d.Signer)
		}
	}
	expect("good", "Valid signature", "valid now")
	resp.Misbehave(true, 0, false)
	expect("no nonce", "NOT CONFIRMED", "unknown")
	resp.Misbehave(false, 0, false)
	resp.Revoke(cert.SerialNumber, time.Now(), 1)
	expect("revoked", "REVOKED", "REVOKED on")

	off, _ := New(Config{Origin: "http://localhost", Roots: card.PKI.Roots, NoOCSP: true})
	if d := off.verify(ctx, doc, p7s); !strings.HasPrefix(d.Verdict, "Valid") || !strings.HasPrefix(d.Status, "not checked") {
		t.Fatalf("checks off: %q, %q", d.Verdict, d.Status)
	}
}
