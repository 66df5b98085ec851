package ocra_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/totp/ocra"
)

// BenchmarkFinishApprove is an OCRA token's payment approval on memstore
// (counter suite with PIN, the token's counter in step with the server's).
// Anchor: BenchmarkHMAC, the one HMAC-SHA-256 over the same data input.
func BenchmarkFinishApprove(b *testing.B) {
	e := newEnvB(b)
	suite := "OCRA-1:HOTP-SHA256-8:C-QN10-PSHA1"
	tk := e.issueB(b, suite, key32, "1234")
	tx := payment("100.00")
	ctx := context.Background()
	resps := make([]identity.Response, b.N)
	for i := range resps {
		ch, err := e.f.BeginApprove(ctx, identity.Request{Subject: "alice", Origin: origin, Transaction: &tx})
		if err != nil {
			b.Fatal(err)
		}
		r, err := tk.suite.Response(tk.key, ocra.Input{Counter: uint64(i), Question: string(ch.Payload), PIN: tk.pin})
		if err != nil {
			b.Fatal(err)
		}
		resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(r), Transaction: &tx}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.f.FinishApprove(ctx, resps[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHMAC is the anchor: HMAC-SHA-256 with the token's key over the
// approval's data input.
func BenchmarkHMAC(b *testing.B) {
	s, _ := ocra.ParseSuite("OCRA-1:HOTP-SHA256-8:C-QN10-PSHA1")
	msg, err := s.DataInput(ocra.Input{Counter: 1, Question: "300010000", PIN: "1234"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key32)
		m.Write(msg)
		m.Sum(nil)
	}
}
