package totp_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
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
	b.Run("Postgres/Finish", func(b *testing.B) {
		s, _ := sqlstoretest.Postgres(b)
		benchFactor(b, s, false)
	})
}

// benchRawValidate: pquerna's Validate with the code of the current step
// (found at its first try, like the factor's walk), a 160-bit secret.
func benchRawValidate(b *testing.B) {
	e := newEnv(b, nil)
	k := e.enroll(b, "alice")
	secret := k.Base32()
	// Stay clear of a step boundary, where the code would be found at the
	// third try instead of the first.
	if left := 30*time.Second - time.Duration(time.Now().UnixNano())%(30*time.Second); left < 5*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
	code, _ := pqtotp.GenerateCode(secret, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if !pqtotp.Validate(code, secret) {
			b.Fatal("code refused")
		}
	}
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
	k := e.enroll(b, "alice")
	resps := make([]identity.Response, batch)
	prepare := func() {
		// memstore keeps its audit trail in one slice that only grows; copying
		// and scanning millions of records would be measured instead of the
		// factor. Emptying it between batches keeps its capacity, so every
		// Finish still hashes and appends its event as in a long-running
		// process.
		if m, ok := store.(*memstore.Store); ok {
			m.TamperAudit(func(r []identity.AuditRecord) []identity.AuditRecord { return r[:0] })
		}
		if _, err := store.PurgeChallenges(ctx, e.clock.Now().Add(10*batch*period)); err != nil {
			b.Fatal(err)
		}
		at := e.clock.Now()
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
		e.clock.Advance(period)
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

// BenchmarkHOTP isolates one code computation, the unit of the window walk:
// pquerna's hotp.GenerateCodeCustom (which the factor calls per step) against
// a bare RFC 4226 §5.3 computation on the standard library. It shows how much
// of the factor's cost is pquerna's per-call overhead (base32 decoding of the
// secret, fmt formatting) rather than the HMAC itself.
func BenchmarkHOTP(b *testing.B) {
	secret := []byte("12345678901234567890")
	b.Run("pquerna", func(b *testing.B) {
		key := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
		opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
		b.ReportAllocs()
		for i := range b.N {
			if _, err := hotp.GenerateCodeCustom(key, uint64(i), opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		var msg [8]byte
		var code [6]byte
		for i := range b.N {
			m := hmac.New(sha1.New, secret)
			binary.BigEndian.PutUint64(msg[:], uint64(i))
			m.Write(msg[:])
			sum := m.Sum(nil)
			off := sum[len(sum)-1] & 0x0f
			v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff % 1_000_000
			for j := len(code) - 1; j >= 0; j-- {
				code[j] = byte('0' + v%10)
				v /= 10
			}
		}
	})
}
