package webauthn_test

import (
	"context"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/webauthn"
)

// BenchmarkFinishSPC is a Secure Payment Confirmation approval's FinishSPC
// on memstore, the payment.get answer made before the timer starts; its
// anchors are BenchmarkECDSAVerify (the assertion's signature check) and
// BenchmarkGoWebAuthnValidateLogin, as for BenchmarkFinishApprove.
func BenchmarkFinishSPC(b *testing.B) {
	e := newEnv(b, nil)
	d := newDevice()
	e.enrollPayment(b, "alice", d)
	tx := identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00"}
	ctx := context.Background()
	resps := make([]identity.Response, b.N)
	for i := range resps {
		ch, err := e.f.BeginSPC(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}, webauthn.SPCOptions{Instrument: instrument})
		if err != nil {
			b.Fatal(err)
		}
		resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: d.spcAnswer(b, ch.Payload, nil), Transaction: &tx}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.f.FinishSPC(ctx, resps[i]); err != nil {
			b.Fatal(err)
		}
	}
}
