package piv_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/pivapplet"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// BenchmarkSign9A signs with slot 9A through the virtual card in-process:
// APDU encoding, the card runtime, the applet and its ECDSA signature.
func BenchmarkSign9A(b *testing.B) {
	ctx := context.Background()
	card, c, ct := newCard(b, testcard.Options{NoSignatureKey: true, AuthAlg: pivapplet.AlgECCP256}, inProcess)
	if err := c.VerifyPIN(ctx, card.PIN, nil); err != nil {
		b.Fatal(err)
	}
	s, _ := c.Signer(piv.SlotAuthentication, card.AuthCert.PublicKey, nil)
	d := sha256.Sum256([]byte("H(origin)||H(nonce)"))
	ct.n.Store(0)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.SignContext(ctx, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ct.n.Load())/float64(b.N), "APDUs/op")
}

// BenchmarkBareECDSASign is the anchor: the same signature in memory.
func BenchmarkBareECDSASign(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("H(origin)||H(nonce)"))
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, k, d[:]); err != nil {
			b.Fatal(err)
		}
	}
}
