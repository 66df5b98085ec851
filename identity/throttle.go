package identity

import (
	"context"
	"fmt"
	"time"
)

// MaxLockout is the most consecutive failures a Throttle may allow before it
// locks: NIST SP 800-63B §5.2.2 says no more than 100.
const MaxLockout = 100

// Throttle limits guessing. Every attempt is counted as a failure before it is
// evaluated, in one atomic step on the store, and only a success clears the
// count; so however many requests race on however many server instances, no
// more attempts are evaluated than the throttle allows.
//
// The first Free failures cost nothing. After that each failure doubles the
// wait before the next attempt, from BaseDelay up to MaxDelay. After LockAfter
// consecutive failures the key is locked: for LockFor when set, otherwise
// until Unlock.
type Throttle struct {
	Store ThrottleStore
	Clock Clock
	// Free is the number of failures allowed without delay (default 3).
	Free int
	// BaseDelay is the first delay (default 1s); MaxDelay caps it (default
	// 15 minutes).
	BaseDelay, MaxDelay time.Duration
	// LockAfter is the consecutive-failure limit (default 10, at most
	// MaxLockout).
	LockAfter int
	// LockFor ends a lock by itself after this long; zero keeps it until
	// Unlock.
	LockFor time.Duration
}

func (t *Throttle) config() (free int, base, max time.Duration, lock int, err error) {
	free, base, max, lock = t.Free, t.BaseDelay, t.MaxDelay, t.LockAfter
	if free <= 0 {
		free = 3
	}
	if base <= 0 {
		base = time.Second
	}
	if max <= 0 {
		max = 15 * time.Minute
	}
	if lock <= 0 {
		lock = 10
	}
	if lock > MaxLockout {
		return 0, 0, 0, 0, fmt.Errorf("%w: Throttle.LockAfter %d exceeds %d (NIST SP 800-63B)", ErrBadInput, lock, MaxLockout)
	}
	return free, base, max, lock, nil
}

// delay is the wait after the given number of consecutive failures.
func delay(failures, free int, base, max time.Duration) time.Duration {
	if failures <= free {
		return 0
	}
	d := base
	for i := free + 1; i < failures; i++ {
		d *= 2
		if d >= max {
			return max
		}
	}
	return min(d, max)
}

// Attempt records an attempt by subject with a factor before it is evaluated.
// It returns a *ThrottledError (errors.Is ErrThrottled) when the attempt must
// not be evaluated. When the attempt then succeeds, call Succeed; when it
// fails, nothing more is needed.
func (t *Throttle) Attempt(ctx context.Context, subject Subject, kind Kind) error {
	if err := kind.Validate(); err != nil {
		return err
	}
	return t.attempt(ctx, ThrottleKey{subject, kind}, time.Time{})
}

// attempt is Attempt on a key already built, at the instant at of the
// caller's ceremony; a zero at reads the throttle's clock.
func (t *Throttle) attempt(ctx context.Context, key ThrottleKey, at time.Time) error {
	free, base, max, lock, err := t.config()
	if err != nil {
		return err
	}
	// A success deletes the record, so nearly every attempt finds none: the
	// first round assumes so and tries to create it, which the store refuses
	// if a record exists after all. Only then is it read. The outcome is the
	// same compare-and-swap, with one store call fewer on the common path.
	for loaded := false; ; loaded = true {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := at
		if now.IsZero() {
			now = clockOr(t.Clock).Now()
		}
		var st ThrottleState
		if loaded {
			if st, err = t.Store.LoadThrottle(ctx, key); err != nil {
				return fmt.Errorf("identity: load throttle: %w", err)
			}
		}
		if st.Failures >= lock && (t.LockFor <= 0 || now.Before(st.NotBefore)) {
			return &ThrottledError{Locked: true, Failures: st.Failures}
		}
		if now.Before(st.NotBefore) {
			return &ThrottledError{RetryAfter: st.NotBefore.Sub(now), Failures: st.Failures}
		}
		n := st.Failures + 1
		if st.Failures >= lock {
			// A timed lock has ended: start a fresh count rather than lock
			// again at the next failure.
			n = 1
		}
		next := ThrottleState{Failures: n, NotBefore: now.Add(delay(n, free, base, max)), Version: st.Version + 1}
		if n >= lock {
			next.NotBefore = now.Add(t.LockFor)
		}
		ok, err := t.Store.SwapThrottle(ctx, key, st, next)
		if err != nil {
			return fmt.Errorf("identity: record attempt: %w", err)
		}
		if ok {
			return nil
		}
		// Another request changed the record first: re-read and decide again.
	}
}

// Succeed clears the failure count after a successful attempt.
func (t *Throttle) Succeed(ctx context.Context, subject Subject, kind Kind) error {
	return t.Unlock(ctx, subject, kind)
}

// Unlock clears the failure count and any lock (an administrator's action).
func (t *Throttle) Unlock(ctx context.Context, subject Subject, kind Kind) error {
	if err := kind.Validate(); err != nil {
		return err
	}
	return t.reset(ctx, ThrottleKey{subject, kind})
}

func (t *Throttle) reset(ctx context.Context, key ThrottleKey) error {
	if err := t.Store.ResetThrottle(ctx, key); err != nil {
		return fmt.Errorf("identity: reset throttle: %w", err)
	}
	return nil
}

// Status returns the current state for subject and factor without counting an
// attempt: nil when an attempt would be evaluated now.
func (t *Throttle) Status(ctx context.Context, subject Subject, kind Kind) error {
	_, _, _, lock, err := t.config()
	if err != nil {
		return err
	}
	if err := kind.Validate(); err != nil {
		return err
	}
	st, err := t.Store.LoadThrottle(ctx, ThrottleKey{subject, kind})
	if err != nil {
		return fmt.Errorf("identity: load throttle: %w", err)
	}
	now := clockOr(t.Clock).Now()
	if st.Failures >= lock && (t.LockFor <= 0 || now.Before(st.NotBefore)) {
		return &ThrottledError{Locked: true, Failures: st.Failures}
	}
	if now.Before(st.NotBefore) {
		return &ThrottledError{RetryAfter: st.NotBefore.Sub(now), Failures: st.Failures}
	}
	return nil
}
