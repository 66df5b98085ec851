package cardauth_test

import (
	"context"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/pcsc/cardauth"
)

// BenchmarkFinishApprove is a payment approval's FinishApprove with the
// e-signature certificate, no OCSP; its anchor is BenchmarkBarePrimitives
// (one chain verification and one ECDSA verification): an approval does
// not use the login chains' cache, so it pays both.
func BenchmarkFinishApprove(b *testing.B) {
	e := newEnv(b, func(c *cardauth.Config) { c.SkipRevocation = true })
	authCert, authKey := e.pki.card(b, "alice", leafOpts{})
	if _, err := e.enroll(b, "alice", authCert, authKey); err != nil {
		b.Fatal(err)
	}
	signCert, signKey := e.pki.signingCert(b, "alice")
	tx := payment("100.00")
	ctx := context.Background()
	resps := make([]identity.Response, b.N)
	for i := range resps {
		ch, err := e.factor.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
		if err != nil {
			b.Fatal(err)
		}
		req, _, _ := cardauth.ParseApprovalRequest(ch.Payload)
		nonce, _ := cardauth.ApprovalNonce(req.Nonce, tx)
		tok, err := cardauth.NewToken(signKey, signCert, origin, nonce, nil)
		if err != nil {
			b.Fatal(err)
		}
		resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: tok, Transaction: &tx}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.factor.FinishApprove(ctx, resps[i]); err != nil {
			b.Fatal(err)
		}
	}
}
