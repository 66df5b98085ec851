package cardauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/piv"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// prepared builds n login challenges and their tokens before the timer
// starts, so the benchmark measures Finish alone.
func prepared(b *testing.B, e *env, n int) ([]identity.Response, *x509.Certificate) {
	cert, key := e.pki.card(b, "alice", leafOpts{})
	if _, err := e.enroll(b, "alice", cert, key); err != nil {
		b.Fatal(err)
	}
	resps := make([]identity.Response, n)
	for i := range resps {
		ch, err := e.factor.Begin(context.Background(), identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			b.Fatal(err)
		}
		resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: token(b, key, cert, origin, ch)}
	}
	return resps, cert
}

// BenchmarkFinish is a card login's Finish with a warm chain cache and no
// OCSP (the responder's network time is not ours to measure).
func BenchmarkFinish(b *testing.B) {
	e := newEnv(b, func(c *cardauth.Config) { c.SkipRevocation = true })
	resps, _ := prepared(b, e, b.N)
	if _, err := e.factor.Finish(context.Background(), resps[0]); err != nil { // warms the chain cache
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 1; i < b.N; i++ {
		if _, err := e.factor.Finish(context.Background(), resps[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinishWithOCSP adds an OCSP round trip to the in-process
// responder: request building, response signing and checking.
func BenchmarkFinishWithOCSP(b *testing.B) {
	e := newEnv(b, nil)
	resps, _ := prepared(b, e, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.factor.Finish(context.Background(), resps[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBarePrimitives is the anchor: what Finish cannot avoid without a
// cache, one chain verification and one ECDSA verification.
func BenchmarkBarePrimitives(b *testing.B) {
	e := newEnv(b, nil)
	cert, key := e.pki.card(b, "alice", leafOpts{})
	digest := sha256.Sum256([]byte("message"))
	sig, _ := ecdsa.SignASN1(nil, key.(*ecdsa.PrivateKey), digest[:])
	opts := x509.VerifyOptions{Roots: e.pki.roots, Intermediates: e.pki.intermediates, CurrentTime: e.clock.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	b.ResetTimer()
	for b.Loop() {
		if _, err := cert.Verify(opts); err != nil {
			b.Fatal(err)
		}
		if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkRoundTripsCard is issue 22's baseline for a card login by
// username: Finish on SQLite and PostgreSQL through the counting driver,
// with statements, round trips and commits per verification, beside a bare
// transaction writing the same rows on the same database
// (sqlstoretest.BenchFinish). The tokens are signed by a virtual card
// (testcard, in-process, PIN verified once) with its 9A key, untimed.
// Revocation is off (the OCSP exchange touches no database) and the chain
// cache is warm; the services carry a throttle, as a deployment's do (the
// login server throttles every factor).
func BenchmarkRoundTripsCard(b *testing.B) {
	sqlstoretest.BenchFinish(b, func(tb testing.TB, s *sqlstore.Store) sqlstoretest.Finisher {
		return cardFinisher(tb, s, "alice")
	})
}

// BenchmarkParallelCard is the same login with several goroutines at once, each a
// subject of its own, beside the same-tables anchor run the same way
// (sqlstoretest.BenchFinishParallel).
func BenchmarkParallelCard(b *testing.B) {
	sqlstoretest.BenchFinishParallel(b, cardFinisher)
}

// cardFinisher readies card logins of subject on s for the benchmarks
// above.
func cardFinisher(tb testing.TB, s *sqlstore.Store, subject identity.Subject) sqlstoretest.Finisher {
	ctx := context.Background()
	card, err := testcard.New(testcard.Options{NoSignatureKey: true})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := piv.Open(ctx, card.Card, nil)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := c.Certificate(ctx, piv.SlotAuthentication)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.VerifyPIN(ctx, card.PIN, nil); err != nil {
		tb.Fatal(err)
	}
	signer, err := c.Signer(piv.SlotAuthentication, cert.PublicKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	clock := identitytest.NewClock(card.AuthCert.NotBefore.Add(time.Hour))
	svc := &identity.Services{Store: s, Clock: clock, Throttle: &identity.Throttle{Store: s, Clock: clock}}
	f, err := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, SkipRevocation: true})
	if err != nil {
		tb.Fatal(err)
	}
	ch, err := f.BeginEnroll(ctx, identity.Request{Subject: subject, Origin: origin})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: token(tb, signer, cert, origin, ch)}); err != nil {
		tb.Fatal(err)
	}
	var resps []identity.Response
	type signed struct {
		tok   *cardauth.Token
		cert  *x509.Certificate
		nonce string
	}
	var toks []signed
	return sqlstoretest.Finisher{
		Prepare: func(n int) {
			resps, toks = resps[:0], toks[:0]
			for range n {
				ch, err := f.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
				if err != nil {
					tb.Fatal(err)
				}
				data := token(tb, signer, cert, origin, ch)
				resps = append(resps, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: data})
				tok, c, err := cardauth.ParseToken(data)
				if err != nil {
					tb.Fatal(err)
				}
				toks = append(toks, signed{tok, c, string(ch.Payload)})
			}
		},
		Finish: func(i int) error {
			_, err := f.Finish(ctx, resps[i])
			return err
		},
		// The floor: the token's signature (ECDSA P-256 over the
		// origin's and nonce's hashes) checked alone, the certificate
		// already parsed.
		Primitive: func(i int) error { return toks[i].tok.VerifySignature(toks[i].cert, origin, toks[i].nonce) },
	}
}
