package identitytest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// testThrottleBound is the property NIST SP 800-63B §5.2.2 asks of a
// throttle, checked on random configurations and random attackers: however
// the attacker times its guesses (at once, waiting out every delay and lock,
// or at random), no more consecutive failures are evaluated than the hard
// limit (LockAfter when locks do not end by themselves, Limit otherwise,
// never over MaxLockout), and once there the key stays locked until Unlock.
func testThrottleBound(t *testing.T, s identity.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(17, 2026))
	durations := []time.Duration{0, time.Millisecond, time.Second, time.Minute, 15 * time.Minute, time.Hour, 24 * time.Hour}
	pick := func() time.Duration { return durations[rng.IntN(len(durations))] }
	for i := range 24 {
		limit := rng.IntN(identity.MaxLockout + 1) // 0: the default, MaxLockout
		lockAfter := 1 + rng.IntN(max(limit, 12))
		if limit > 0 {
			lockAfter = min(lockAfter, limit)
		}
		th := &identity.Throttle{Store: s, Clock: NewClock(Epoch()), Free: rng.IntN(6), BaseDelay: pick(), MaxDelay: pick(),
			LockAfter: lockAfter, LockFor: pick(), MaxLockFor: pick(), Limit: limit}
		bound := th.Limit
		if bound == 0 {
			bound = identity.MaxLockout
		}
		if th.LockFor == 0 {
			bound = th.LockAfter
		}
		strategy := rng.IntN(3)
		subject := identity.Subject(fmt.Sprintf("bound-%d", i))
		name := fmt.Sprintf("free=%d base=%s max=%s lockAfter=%d lockFor=%s maxLockFor=%s limit=%d strategy=%d",
			th.Free, th.BaseDelay, th.MaxDelay, th.LockAfter, th.LockFor, th.MaxLockFor, th.Limit, strategy)
		clock := th.Clock.(*Clock)
		evaluated := 0
		for range 4 * identity.MaxLockout {
			err := th.Attempt(ctx, subject, identity.KindTOTP)
			var te *identity.ThrottledError
			switch {
			case err == nil:
				evaluated++
				if evaluated > bound {
					t.Fatalf("%s: %d consecutive failures evaluated, the limit is %d", name, evaluated, bound)
				}
			case !errors.As(err, &te):
				t.Fatalf("%s: attempt: %v", name, err)
			case te.Locked && te.RetryAfter == 0:
				// Locked for good: only the limit may get here.
				if evaluated != bound || te.Failures != bound {
					t.Fatalf("%s: locked for good after %d evaluated failures (record says %d), want %d", name, evaluated, te.Failures, bound)
				}
			}
			switch strategy {
			case 0: // hammer: never wait
			case 1: // patient: wait out every delay and lock
				if te != nil {
					clock.Advance(te.RetryAfter)
				}
			case 2:
				clock.Advance(time.Duration(rng.Int64N(int64(2 * time.Hour))))
			}
		}
		if strategy == 1 && evaluated != bound {
			t.Fatalf("%s: a patient attacker got %d evaluations, want exactly the limit %d", name, evaluated, bound)
		}
		if evaluated == bound {
			clock.Advance(10 * 365 * 24 * time.Hour)
			if err := th.Attempt(ctx, subject, identity.KindTOTP); !errors.Is(err, identity.ErrThrottled) {
				t.Fatalf("%s: ten years after the limit: %v, want still locked", name, err)
			}
			mustNoErr(t, th.Unlock(ctx, subject, identity.KindTOTP), "unlock")
			mustNoErr(t, th.Attempt(ctx, subject, identity.KindTOTP), "attempt after unlock")
		}
	}
}

// testClientThrottle: failures from one address are counted across accounts
// and lock the address (for a while, growing), not the accounts; another
// address is not affected, and a quiet address is forgotten.
func testClientThrottle(t *testing.T, s identity.Store) {
	ctx := context.Background()
	clock := NewClock(Epoch())
	th := &identity.Throttle{Store: s, Clock: clock, Free: 50, LockAfter: 60, LockFor: time.Minute,
		Clients: &identity.ClientLimit{LockAfter: 5, LockFor: time.Minute, MaxLockFor: time.Hour, Forget: 24 * time.Hour}}
	const bad = "198.51.100.7"
	for i := range 5 {
		subject := identity.Subject(fmt.Sprintf("spray-%d", i))
		mustNoErr(t, th.AttemptFrom(ctx, subject, identity.KindPassword, bad), "attempt")
		mustNoErr(t, th.Failed(ctx, bad), "count failure")
	}
	var te *identity.ThrottledError
	if err := th.AttemptFrom(ctx, "spray-9", identity.KindPassword, bad); !errors.As(err, &te) || te.RetryAfter != time.Minute {
		t.Fatalf("sixth account from a locked address: %v, want a lock of 1m", err)
	}
	// The refused attempt did not reach the account's count.
	mustNoErr(t, th.Status(ctx, "spray-9", identity.KindPassword), "account behind a locked address")
	mustNoErr(t, th.AttemptFrom(ctx, "spray-9", identity.KindPassword, "203.0.113.1"), "another address")
	clock.Advance(time.Minute)
	mustNoErr(t, th.AttemptFrom(ctx, "spray-0", identity.KindPassword, bad), "after the lock")
	mustNoErr(t, th.Failed(ctx, bad), "count failure")
	if err := th.AttemptFrom(ctx, "spray-0", identity.KindPassword, bad); !errors.As(err, &te) || te.RetryAfter != 2*time.Minute {
		t.Fatalf("after one more failure: %v, want a lock of 2m", err)
	}
	clock.Advance(25 * time.Hour)
	for range 4 {
		mustNoErr(t, th.AttemptFrom(ctx, "spray-1", identity.KindPassword, bad), "after a quiet day")
		mustNoErr(t, th.Failed(ctx, bad), "count failure")
	}
	mustNoErr(t, th.AttemptFrom(ctx, "spray-1", identity.KindPassword, bad), "a quiet day forgets the count")
	mustNoErr(t, th.UnlockClient(ctx, bad), "unlock address")
}
