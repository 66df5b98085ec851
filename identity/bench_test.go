package identity_test

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// BenchmarkPasswordVerify measures VerifyPassword with the default
// parameters; its anchor is BenchmarkArgon2idRaw, the bare key derivation.
func BenchmarkPasswordVerify(b *testing.B) {
	p := identity.DefaultArgon2Params()
	enc, _ := identity.HashPassword("correct horse battery", p)
	b.ResetTimer()
	for b.Loop() {
		if _, err := identity.VerifyPassword(enc, "correct horse battery", p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkArgon2idRaw(b *testing.B) {
	p := identity.DefaultArgon2Params()
	salt := make([]byte, p.SaltLen)
	for b.Loop() {
		argon2.IDKey([]byte("correct horse battery"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	}
}

// BenchmarkChallengeMemstore issues and consumes one challenge per loop.
func BenchmarkChallengeMemstore(b *testing.B) {
	benchChallenge(b, memstore.New())
}

// benchChallenge issues and consumes one challenge per loop.
func benchChallenge(b *testing.B, s identity.Store) {
	ctx := context.Background()
	c := &identity.Services{Store: s, PurgeEvery: -1}
	req := identity.Request{Subject: "alice", Origin: "https://bank.example"}
	payload := make([]byte, 32)
	for b.Loop() {
		ch, err := c.Issue(ctx, identity.KindCard, identity.PurposeAuthenticate, req, payload, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.ConsumeChallenge(ctx, ch.ID, ch.CreatedAt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareMap is the memstore anchor: a map insert and delete under a
// mutex, the least an in-memory single-use token can cost.
func BenchmarkBareMap(b *testing.B) {
	var mu sync.Mutex
	m := map[[16]byte][]byte{}
	payload := make([]byte, 32)
	var id [16]byte
	for b.Loop() {
		rand.Read(id[:])
		mu.Lock()
		m[id] = payload
		mu.Unlock()
		mu.Lock()
		delete(m, id)
		mu.Unlock()
	}
}

// BenchmarkRoundTripsPassword is issue 22's baseline for a password login
// (Passwords.Verify, throttled and audited) on SQLite and PostgreSQL through
// the counting driver, with statements, round trips and commits per
// verification, beside a bare transaction writing the same rows on the same
// database (sqlstoretest.BenchFinish). The argon2id parameters are the
// cheapest allowed (64 KiB, one pass): the store's cost is what is
// measured here; BenchmarkPasswordVerify has the hash's.
func BenchmarkRoundTripsPassword(b *testing.B) {
	sqlstoretest.BenchFinish(b, func(tb testing.TB, s *sqlstore.Store) sqlstoretest.Finisher {
		ctx := context.Background()
		p := &identity.Passwords{Store: s, Audit: s, Throttle: &identity.Throttle{Store: s},
			Params: identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
		if _, err := p.Create(ctx, "alice", "correct horse battery", ""); err != nil {
			tb.Fatal(err)
		}
		// The floor: one argon2id hash of the password at the same
		// parameters, compared in constant time.
		salt, want := make([]byte, 16), make([]byte, 32)
		rand.Read(salt)
		return sqlstoretest.Finisher{
			Prepare: func(int) {},
			Finish: func(int) error {
				_, err := p.Verify(ctx, "alice", "correct horse battery", "192.0.2.1:4711")
				return err
			},
			Primitive: func(int) error {
				got := argon2.IDKey([]byte("correct horse battery"), salt, 1, 64, 1, 32)
				subtle.ConstantTimeCompare(got, want) // a mismatch, as the hash was not stored: the work is the same
				return nil
			},
		}
	})
}
