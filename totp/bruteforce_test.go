package totp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/totp"
)

// countingStore counts how many codes were evaluated: Finish loads the
// subject's TOTP credentials exactly once per evaluated code, after the
// throttle let the attempt through and before any code is computed.
type countingStore struct {
	identity.Store
	evaluated atomic.Int64
}

func (s *countingStore) Credentials(ctx context.Context, subject identity.Subject, kind identity.Kind) ([]identity.Credential, error) {
	if kind == totp.Kind {
		s.evaluated.Add(1)
	}
	return s.Store.Credentials(ctx, subject, kind)
}

// guesses returns n well-formed codes, none of them valid at the clock's
// time, in the order an attacker enumerating from 000000 would try them.
func guesses(t *testing.T, e *env, k *totp.Key, n int) []string {
	valid := map[string]bool{}
	for d := -1; d <= 1; d++ {
		valid[codeAt(t, k, e.clock.Now().Add(time.Duration(d)*30*time.Second))] = true
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		if c := fmt.Sprintf("%06d", i); !valid[c] {
			out = append(out, c)
		}
	}
	return out
}

// TestBruteForce: 10,000 wrong codes against one account, at an attacker's
// pace (one a second, so every throttle delay but the lock has ended). None
// succeeds, only LockAfter of them are evaluated, and after the lock even the
// right code is not.
func TestBruteForce(t *testing.T) {
	const attempts, lockAfter = 10_000, 10
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, cs)
	e.svc.Throttle.LockAfter = lockAfter
	k := e.enroll(t, "alice")
	e.clock.Advance(time.Hour)
	before := cs.evaluated.Load()
	var throttled int
	for i, code := range guesses(t, e, k, attempts) {
		p, err := e.login(t, "alice", code)
		switch {
		case err == nil:
			t.Fatalf("guess %d (%v) succeeded: %+v", i, code, p)
		case errors.Is(err, identity.ErrThrottled):
			throttled++
		case !errors.Is(err, identity.ErrInvalidResponse):
			t.Fatalf("guess %d: %v", i, err)
		}
		e.clock.Advance(time.Second)
	}
	evaluated := cs.evaluated.Load() - before
	if evaluated != lockAfter {
		t.Fatalf("%d of %d guesses were evaluated; the throttle allows %d", evaluated, attempts, lockAfter)
	}
	_, err := e.login(t, "alice", codeAt(t, k, e.clock.Now()))
	var te *identity.ThrottledError
	if !errors.As(err, &te) || !te.Locked {
		t.Fatalf("right code after the lock: %v, want a lock", err)
	}
	if cs.evaluated.Load()-before != lockAfter {
		t.Fatal("the right code was evaluated while locked")
	}
	t.Logf("%d guesses: %d evaluated, %d refused by the throttle, 0 succeeded", attempts, evaluated, throttled)
}

// TestBruteForceParallel: the same 10,000 guesses fired by 16 goroutines at
// one instant. The throttle counts each attempt before evaluating it, so only
// its free allowance (Free+1 attempts before the first delay) is evaluated.
func TestBruteForceParallel(t *testing.T) {
	const attempts, workers = 10_000, 16
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, cs)
	k := e.enroll(t, "alice")
	e.clock.Advance(time.Hour)
	before := cs.evaluated.Load()
	codes := guesses(t, e, k, attempts)
	// Begin each ceremony first, as an attacker holding many sessions would.
	ctx := context.Background()
	resps := make([]identity.Response, attempts)
	for i, c := range codes {
		ch, err := e.factor.Begin(ctx, identity.Request{Subject: "alice", Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		resps[i] = identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: origin, Data: []byte(c)}
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < attempts; i += workers {
				if _, err := e.factor.Finish(ctx, resps[i]); err == nil {
					wins.Add(1)
				}
			}
		})
	}
	wg.Wait()
	const free = 3 // identity.Throttle's default
	if evaluated := cs.evaluated.Load() - before; wins.Load() != 0 || evaluated != free+1 {
		t.Fatalf("%d parallel guesses: %d succeeded, %d evaluated; want 0 and %d", attempts, wins.Load(), evaluated, free+1)
	}
}
