package webauthn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"
	"time"

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

// BenchmarkFinishSPCPaired interleaves, per iteration, one FinishSPC and
// its anchor — the bare P-256 verification of the same answer's signature
// (over authenticatorData ‖ SHA-256(clientDataJSON)) — and reports the
// median of each and of their per-iteration ratio: on a shared, loaded
// machine both then see the same load, where separate benchmarks do not.
// BenchmarkFinishApprovePaired does the same for a plain approval.
func BenchmarkFinishSPCPaired(b *testing.B) {
	benchPaired(b, true)
}

func BenchmarkFinishApprovePaired(b *testing.B) {
	benchPaired(b, false)
}

func benchPaired(b *testing.B, spc bool) {
	e := newEnv(b, nil)
	d := newDevice()
	finish := e.f.FinishApprove
	if spc {
		e.enrollPayment(b, "alice", d)
		finish = e.f.FinishSPC
	} else {
		e.enroll(b, "alice", d)
	}
	priv, err := x509.ParsePKCS8PrivateKey(d.cred.Key.Data)
	if err != nil {
		b.Fatal(err)
	}
	pub := &priv.(*ecdsa.PrivateKey).PublicKey
	tx := identity.Transaction{Amount: "100.00", Currency: "EUR", PayeeName: "Muster GmbH", PayeeAccount: "DE89 3704 0044 0532 0130 00"}
	ctx := context.Background()
	type item struct {
		resp     identity.Response
		msg, sig []byte
	}
	items := make([]item, b.N)
	for i := range items {
		req := identity.Request{Subject: "alice", Origin: origin, Transaction: &tx}
		var data []byte
		if spc {
			ch, err := e.f.BeginSPC(ctx, req, webauthn.SPCOptions{Instrument: instrument})
			if err != nil {
				b.Fatal(err)
			}
			data = d.spcAnswer(b, ch.Payload, nil)
			items[i].resp.ChallengeID = ch.ID
		} else {
			ch, err := e.f.BeginApprove(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			data = d.get(b, ch.Payload)
			items[i].resp.ChallengeID = ch.ID
		}
		var m struct {
			Response struct{ AuthenticatorData, ClientDataJSON, Signature string }
		}
		json.Unmarshal(data, &m)
		dec := base64.RawURLEncoding
		ad, _ := dec.DecodeString(m.Response.AuthenticatorData)
		cd, _ := dec.DecodeString(m.Response.ClientDataJSON)
		sig, _ := dec.DecodeString(m.Response.Signature)
		h := sha256.Sum256(cd)
		items[i].resp = identity.Response{ChallengeID: items[i].resp.ChallengeID, Subject: "alice", Origin: origin, Data: data, Transaction: &tx}
		items[i].msg, items[i].sig = append(append([]byte{}, ad...), h[:]...), sig
	}
	own, anchor, ratio := make([]float64, b.N), make([]float64, b.N), make([]float64, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := finish(ctx, items[i].resp); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		digest := sha256.Sum256(items[i].msg)
		if !ecdsa.VerifyASN1(pub, digest[:], items[i].sig) {
			b.Fatal("signature does not verify")
		}
		t2 := time.Now()
		own[i], anchor[i] = float64(t1.Sub(t0)), float64(t2.Sub(t1))
		ratio[i] = own[i] / anchor[i]
	}
	b.StopTimer()
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(median(own)/1e3, "finish-µs")
	b.ReportMetric(median(anchor)/1e3, "ecdsa-µs")
	b.ReportMetric(median(ratio), "ratio")
}
