package esign_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/pcsc/cardauth"
	"github.com/puce-id/puce/pcsc/esign"
	"github.com/puce-id/puce/pcsc/virtual/testcard"
)

// BenchmarkRoundTripsCeremony is the signing ceremony's Finish on SQLite
// and PostgreSQL through the counting driver — take the pending signature,
// check the signer is the account's card, assemble and verify the .p7s,
// audit — beside bare transactions writing the same rows on the same
// database (sqlstoretest.BenchFinish):
//
//	go test -run '^$' -bench RoundTripsCeremony -benchtime 300x ./pcsc/esign/
//
// The card's signatures are made while the timer is stopped.
func BenchmarkRoundTripsCeremony(b *testing.B) {
	sqlstoretest.BenchFinish(b, func(tb testing.TB, s *sqlstore.Store) sqlstoretest.Finisher {
		ctx := context.Background()
		clock := identitytest.NewClock(identitytest.Epoch())
		card, err := testcard.New(testcard.Options{Now: clock.Now().Add(-time.Hour)})
		if err != nil {
			tb.Fatal(err)
		}
		svc := &identity.Services{Store: s, Clock: clock, Throttle: &identity.Throttle{Store: s, Clock: clock}, ChallengeTTL: time.Hour}
		cards, err := cardauth.New(svc, cardauth.Config{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates, SkipRevocation: true})
		if err != nil {
			tb.Fatal(err)
		}
		ch, err := cards.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: ceremonyOrigin})
		if err != nil {
			tb.Fatal(err)
		}
		tok, err := cardauth.LoginToken(ctx, card.Card, ceremonyOrigin, string(ch.Payload), cardauth.PIN{Value: card.PIN}, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := cards.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: ceremonyOrigin, Data: tok}); err != nil {
			tb.Fatal(err)
		}
		ceremony, err := esign.NewCeremony(svc, esign.CeremonyConfig{Cards: cards, Chain: []*x509.Certificate{card.PKI.Issuing},
			Verify: esign.VerifyOptions{Roots: card.PKI.Roots, Intermediates: card.PKI.Intermediates}})
		if err != nil {
			tb.Fatal(err)
		}
		var resps []identity.Response
		return sqlstoretest.Finisher{
			Batch: 64,
			Prepare: func(n int) {
				resps = resps[:0]
				for range n {
					ch, err := ceremony.Begin(ctx, identity.Request{Subject: "alice", Origin: ceremonyOrigin}, contract, card.SignCert)
					if err != nil {
						tb.Fatal(err)
					}
					req, err := esign.ParseSignRequest(ch.Payload)
					if err != nil {
						tb.Fatal(err)
					}
					sig, _, err := cardauth.SignDigest(ctx, card.Card, req.Digest, crypto.SHA256, nil, cardauth.PIN{Value: card.PIN})
					if err != nil {
						tb.Fatal(err)
					}
					resps = append(resps, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: ceremonyOrigin, Data: sig})
				}
			},
			Finish: func(i int) error {
				_, err := ceremony.Finish(ctx, resps[i], contract)
				return err
			},
		}
	})
}
