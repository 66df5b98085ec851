package totp_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
	"github.com/puce-id/puce/totp"
)

// BenchmarkVerify compares verifying one code through the factor with
// pquerna's bare totp.Validate (the anchor) in the same run:
//
//	go test -run '^$' -bench BenchmarkVerify -benchmem -count 6 ./totp/
//
// "Finish" is the verification request alone: consume the challenge, count
// the attempt, load and unseal the credential, walk the window, advance the
// counter atomically, clear the throttle, audit. "Begin+Finish" adds the
// first request of the ceremony (issuing the challenge).
func BenchmarkVerify(b *testing.B) {
	b.Run("pquerna-Validate", benchRawValidate)
	b.Run("memstore/Finish", func(b *testing.B) { benchFactor(b, memstore.New(), false) })
	b.Run("memstore/Begin+Finish", func(b *testing.B) { benchFactor(b, memstore.New(), true) })
	b.Run("SQLite/Finish", func(b *testing.B) { benchFactor(b, sqlstoretest.SQLite(b), false) })
	b.Run("SQLite/Begin+Finish", func(b *testing.B) { benchFactor(b, sqlstoretest.SQLite(b), true) })
	b.Run("memstore/Finish-paired", benchPaired)
	b.Run("Postgres/Finish", func(b *testing.B) {
		s, _ := sqlstoretest.Postgres(b)
		benchFactor(b, s, false)
	})
}

// benchRawValidate: pquerna's Validate with the code of the current step
// (found at its first try, like the factor's walk), a 160-bit secret.
func benchRawValidate(b *testing.B) {
	const batch = 1024
	e := newEnv(b, nil)
	k := e.enroll(b, "alice")
	secret := k.Base32()
	var code string
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			code = currentCode(b, secret)
			b.StartTimer()
		}
		if !pqtotp.Validate(code, secret) {
			b.Fatal("code refused")
		}
	}
}

// currentCode returns the code of the current step, the first that Validate
// tries. A run lasts longer than a step, so callers ask again for every batch:
// a code of the step before would be found at the third try (pquerna walks
// T, T+1, T-1) and make the anchor look three times slower.
func currentCode(b *testing.B, secret string) string {
	code, err := pqtotp.GenerateCode(secret, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return code
}

// benchFactor verifies a fresh code per iteration: the clock moves one step
// each time, as replay protection demands. Codes (computed by pquerna, for
// the user's app) and, for Finish alone, challenges are prepared in batches
// with the timer stopped.
func benchFactor(b *testing.B, store identity.Store, begin bool) {
	const batch = 1024
	const period = 30 * time.Second
	ctx := context.Background()
	e := newEnv(b, store)
	// Challenges are issued up to a batch of steps ahead of the clock.
	e.svc.ChallengeTTL = 2 * batch * period
	// The benchmark moves its clock a time step per login, so Issue's purge
	// (once a minute of the services' clock) would run every other login
	// and scan a batch of challenges; prepare purges between batches instead.
	e.svc.PurgeEvery = -1
	k := e.enroll(b, "alice")
	clock := runClock(e)
	resps := make([]identity.Response, batch)
	prepare := func() {
		// memstore keeps its audit trail in one slice that only grows; copying
		// and scanning millions of records would be measured instead of the
		// factor. Emptying it between batches keeps its capacity, so every
		// Finish still hashes and appends its event as in a long-running
		// process.
		if m, ok := store.(*memstore.Store); ok {
			m.TamperAudit(func(tr *auditchain.Trail) { tr.Records = tr.Records[:0] })
		}
		// Every challenge so far is used: purge them all, so that the store
		// holds one batch as a busy server holds its logins in flight.
		if _, err := store.PurgeChallenges(ctx, clock.Now().Add(10*batch*period)); err != nil {
			b.Fatal(err)
		}
		at := clock.Now()
		for i := range resps {
			at = at.Add(period)
			resps[i] = identity.Response{Subject: "alice", Origin: origin, Data: []byte(codeAt(b, k, at))}
			if !begin {
				ch, err := e.factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
				if err != nil {
					b.Fatal(err)
				}
				resps[i].ChallengeID = ch.ID
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			prepare()
			b.StartTimer()
		}
		resp := &resps[i%batch]
		clock.Advance(period)
		if begin {
			ch, err := e.factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
			if err != nil {
				b.Fatal(err)
			}
			resp.ChallengeID = ch.ID
		}
		if _, err := e.factor.Finish(ctx, *resp); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPaired measures Finish on memstore and pquerna's Validate in
// alternating rounds of 64 calls each, and reports both and their ratio. On
// a shared machine, separate sub-benchmarks see different background load;
// alternating rounds share it, so the ratio is the steadier figure. The
// figures are medians over the rounds (each round's time per call, and each
// pair of rounds' ratio), so that a burst of load from elsewhere, which
// lands on one side of one pair, does not move them. Each b.N iteration is
// one Validate and one Finish.
func benchPaired(b *testing.B) {
	const round = 64
	const period = 30 * time.Second
	ctx := context.Background()
	store := memstore.New()
	e := newEnv(b, store)
	e.svc.ChallengeTTL = 4 * round * period
	k := e.enroll(b, "alice")
	clock := runClock(e)
	secret := k.Base32()
	var resps [round]identity.Response
	var anchor, factor, ratio []float64 // per round: ns per call, and their ratio
	var anchorTotal, factorTotal time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		b.StopTimer()
		store.TamperAudit(func(tr *auditchain.Trail) { tr.Records = tr.Records[:0] })
		if _, err := store.PurgeChallenges(ctx, clock.Now().Add(10*round*period)); err != nil {
			b.Fatal(err)
		}
		rawCode := currentCode(b, secret)
		at := clock.Now()
		for i := range n {
			at = at.Add(period)
			ch, err := e.factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
			if err != nil {
				b.Fatal(err)
			}
			resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(codeAt(b, k, at))}
		}
		b.StartTimer()
		t0 := time.Now()
		for range n {
			if !pqtotp.Validate(rawCode, secret) {
				b.Fatal("code refused")
			}
		}
		t1 := time.Now()
		for i := range n {
			clock.Advance(period)
			if _, err := e.factor.Finish(ctx, resps[i]); err != nil {
				b.Fatal(err)
			}
		}
		t2 := time.Now()
		a, f := float64(t1.Sub(t0))/float64(n), float64(t2.Sub(t1))/float64(n)
		anchor, factor, ratio = append(anchor, a), append(factor, f), append(ratio, f/a)
		anchorTotal += t1.Sub(t0)
		factorTotal += t2.Sub(t1)
	}
	// The ratio of the totals too, which bursts do move: the two together
	// show how much the median filtered.
	b.ReportMetric(float64(factorTotal)/float64(anchorTotal), "total-ratio")
	b.ReportMetric(median(anchor), "validate-ns/op")
	b.ReportMetric(median(factor), "finish-ns/op")
	b.ReportMetric(median(ratio), "ratio")
}

// median returns the middle value of xs (the mean of the two middle ones for
// an even count), sorting xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// runClock moves e's services (and its throttle, which follows them) from the
// test clock to the system clock moved ahead one step per verification: a
// verification then pays for reading the time what it pays in production, as
// the anchor (pquerna's Validate, which reads the system clock) does.
func runClock(e *env) *identitytest.RunningClock {
	c := new(identitytest.RunningClock)
	e.svc.Clock, e.svc.Throttle.Clock = c, nil
	return c
}

// BenchmarkRoundTripsTOTP is issue 22's baseline for a TOTP login: Finish
// on SQLite and PostgreSQL through the counting driver, with statements,
// round trips and commits per verification, beside a bare transaction
// writing the same rows on the same database (sqlstoretest.BenchFinish):
//
//	go test -run '^$' -bench RoundTrips -count 5 ./totp/
//
// The clock is the test's, moved one step per verification.
func BenchmarkRoundTripsTOTP(b *testing.B) {
	sqlstoretest.BenchFinish(b, func(tb testing.TB, s *sqlstore.Store) sqlstoretest.Finisher {
		return totpFinisher(tb, s, "alice")
	})
}

// BenchmarkParallelTOTP is the same login with several goroutines at once, each a
// subject of its own, beside the same-tables anchor run the same way
// (sqlstoretest.BenchFinishParallel).
func BenchmarkParallelTOTP(b *testing.B) {
	sqlstoretest.BenchFinishParallel(b, totpFinisher)
}

// totpFinisher readies TOTP logins of subject on s for the benchmarks
// above.
func totpFinisher(tb testing.TB, s *sqlstore.Store, subject identity.Subject) sqlstoretest.Finisher {
	const period = 30 * time.Second
	ctx := context.Background()
	e := newEnv(tb, s)
	// Challenges of a batch are issued before the clock walks through it.
	e.svc.ChallengeTTL = 2048 * period
	k := e.enroll(tb, subject)
	var resps []identity.Response
	var steps []uint64
	return sqlstoretest.Finisher{
		Prepare: func(n int) {
			resps, steps = resps[:0], steps[:0]
			at := e.clock.Now()
			for range n {
				at = at.Add(period)
				ch, err := e.factor.Begin(ctx, identity.Request{Subject: subject, Origin: origin})
				if err != nil {
					tb.Fatal(err)
				}
				resps = append(resps, identity.Response{ChallengeID: ch.ID, Subject: subject, Origin: origin, Data: []byte(codeAt(tb, k, at))})
				steps = append(steps, uint64(at.Unix()/int64(period/time.Second)))
			}
		},
		Finish: func(i int) error {
			e.clock.Advance(period)
			_, err := e.factor.Finish(ctx, resps[i])
			return err
		},
		// The floor: the code of the login's time step, one HMAC-SHA1
		// (RFC 4226 §5.3) compared with the one sent.
		Primitive: func(i int) error { return hotpMatches(k.Secret, steps[i], resps[i].Data) },
	}
}

// BenchmarkRoundTripsRecovery is the same for a recovery-code login, which
// compares the code with every code left and deletes the one it matches.
// Each batch is a fresh set of the default ten codes, used up in order, so
// the figures average a set from full to its last code.
func BenchmarkRoundTripsRecovery(b *testing.B) {
	sqlstoretest.BenchFinish(b, func(tb testing.TB, s *sqlstore.Store) sqlstoretest.Finisher {
		ctx := context.Background()
		e := newEnv(tb, s)
		var resps []identity.Response
		return sqlstoretest.Finisher{
			Batch: totp.DefaultRecoveryCodes,
			Prepare: func(n int) {
				e.clock.Advance(time.Minute)
				ch, err := e.recovery.BeginEnroll(ctx, identity.Request{Subject: "alice", Origin: origin})
				if err != nil {
					tb.Fatal(err)
				}
				codes := totp.RecoveryCodes(ch)
				if _, err := e.recovery.FinishEnroll(ctx, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(codes[0])}); err != nil {
					tb.Fatal(err)
				}
				resps = resps[:0]
				for i := range n {
					ch, err := e.recovery.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
					if err != nil {
						tb.Fatal(err)
					}
					resps = append(resps, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(codes[i])})
				}
			},
			Finish: func(i int) error {
				_, err := e.recovery.Finish(ctx, resps[i])
				return err
			},
		}
	})
}

// hotpMatches computes the six-digit HOTP value of key at counter (RFC 4226
// §5.3: HMAC-SHA1, dynamic truncation) and compares it with code in
// constant time: the least a TOTP check does for the step it matches.
func hotpMatches(key []byte, counter uint64, code []byte) error {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	h := hmac.New(sha1.New, key)
	h.Write(msg[:])
	sum := h.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	want := fmt.Appendf(nil, "%06d", v%1000000)
	if subtle.ConstantTimeCompare(want, code) != 1 {
		return errors.New("code does not match")
	}
	return nil
}
