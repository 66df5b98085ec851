package identity_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
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
func benchChallenge(b *testing.B, s identity.ChallengeStore) {
	ctx := context.Background()
	c := &identity.Challenges{Store: s}
	req := identity.Request{Subject: "alice", Origin: "https://bank.example"}
	payload := make([]byte, 32)
	for b.Loop() {
		ch, err := c.Issue(ctx, identity.KindCard, identity.PurposeAuthenticate, req, payload, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Take(ctx, identity.KindCard, identity.PurposeAuthenticate, identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: req.Origin}); err != nil {
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
