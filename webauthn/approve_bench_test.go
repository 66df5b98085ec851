package webauthn_test

import (
	"context"
	"testing"

	"github.com/puce-id/puce/identity"
)

// BenchmarkFinishApprove is a payment approval's FinishApprove with a
// security key on memstore; its anchors are BenchmarkECDSAVerify (the
// assertion's signature check) and BenchmarkGoWebAuthnValidateLogin.
func BenchmarkFinishApprove(b *testing.B) {
	e := newEnv(b, nil)
	d := newDevice()
	e.enroll(b, "alice", d)
	tx := identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00"}
	ctx := context.Background()
	resps := make([]identity.Response, b.N)
	for i := range resps {
		ch, err := e.f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
		if err != nil {
			b.Fatal(err)
		}
		resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: d.get(b, ch.Payload), Transaction: &tx}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.f.FinishApprove(ctx, resps[i]); err != nil {
			b.Fatal(err)
		}
	}
}
