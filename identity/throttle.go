package identity

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// MaxLockout is the most consecutive failures a Throttle may allow on one
// account and factor before it locks until Unlock: NIST SP 800-63B §5.2.2 says
// no more than 100.
const MaxLockout = 100

// Throttle limits guessing. Every attempt is counted as a failure before it is
// evaluated, in one atomic step on the store, and only a success (or Unlock)
// clears the count; so however many requests race on however many server
// instances, no more attempts are evaluated than the throttle allows. When
// Services runs a login as one unit (UnitStore), the count is written in the
// same commit as the outcome, conditional on the record being as it was
// read: a request that loses that race writes nothing and is evaluated
// again on the fresh count, so no outcome is told without its attempt
// counted.
//
// The schedule for one account and factor, counting consecutive failures:
//
//   - the first Free failures cost nothing;
//   - after that each failure doubles the wait before the next attempt, from
//     BaseDelay up to MaxDelay;
//   - at LockAfter failures the key locks. With LockFor zero the lock holds
//     until Unlock. With LockFor set it ends by itself after LockFor, and each
//     further failure locks again for twice as long as the one before, up to
//     MaxLockFor;
//   - at Limit failures (at most MaxLockout) the key locks until Unlock,
//     whatever LockFor says.
//
// The count survives timed locks: waiting out a lock buys one more guess, not
// a fresh allowance, so no configuration evaluates more than Limit (≤ 100)
// consecutive wrong answers.
//
// A lock that never ends lets anyone who can fail a login lock the account;
// timed locks with growth slow an attacker to a few guesses a day while the
// account's owner can still get in between them. Clients adds a second,
// per-address count, so that one address that fails for many accounts is
// slowed down before it locks any of them. README's "Lockout" section weighs
// the choices.
type Throttle struct {
	Store ThrottleStore
	Clock Clock
	// Free is the number of failures allowed without delay (default 3).
	Free int
	// BaseDelay is the first delay (default 1s); MaxDelay caps it (default
	// 15 minutes).
	BaseDelay, MaxDelay time.Duration
	// LockAfter is the consecutive-failure count that locks (default 10, at
	// most Limit).
	LockAfter int
	// LockFor ends a lock by itself after this long, doubling with each
	// further failure; zero keeps the first lock until Unlock.
	LockFor time.Duration
	// MaxLockFor caps a timed lock (default 24 hours).
	MaxLockFor time.Duration
	// Limit is the consecutive-failure count that locks until Unlock even
	// with LockFor set (default and most MaxLockout).
	Limit int
	// Clients, when set, also counts failures per client address, across all
	// accounts and factors.
	Clients *ClientLimit
}

// ClientLimit is the per-address part of a Throttle. An address's failures
// are counted after they are evaluated and are not cleared by a success (an
// attacker with one account of their own could clear them otherwise); they
// are forgotten once the address has been quiet for Forget. A locked address
// is refused before its attempt reaches the account's count, so it cannot
// push an account towards its Limit either.
type ClientLimit struct {
	// LockAfter is the number of failures from one address that locks it
	// (default 20).
	LockAfter int
	// LockFor is the first lock (default 1 minute); each further failure
	// doubles it, up to MaxLockFor (default 1 hour).
	LockFor, MaxLockFor time.Duration
	// Forget clears an address's count after this long without a failure
	// (default 24 hours).
	Forget time.Duration
}

// KindClient keys the per-address throttle records (see ClientLimit): the
// record's Subject is the address. It is no factor.
const KindClient Kind = "client"

// schedule is a Throttle's or ClientLimit's configuration with defaults
// filled in and checked.
type schedule struct {
	free, lockAfter, limit int
	base, max              time.Duration
	lockFor, maxLockFor    time.Duration
}

func (t *Throttle) schedule() (schedule, error) {
	sc := schedule{free: t.Free, base: t.BaseDelay, max: t.MaxDelay, lockAfter: t.LockAfter,
		lockFor: t.LockFor, maxLockFor: t.MaxLockFor, limit: t.Limit}
	if sc.free <= 0 {
		sc.free = 3
	}
	if sc.base <= 0 {
		sc.base = time.Second
	}
	if sc.max <= 0 {
		sc.max = 15 * time.Minute
	}
	if sc.lockAfter <= 0 {
		sc.lockAfter = 10
	}
	if sc.maxLockFor <= 0 {
		sc.maxLockFor = 24 * time.Hour
	}
	if sc.limit <= 0 {
		sc.limit = MaxLockout
	}
	switch {
	case sc.limit > MaxLockout:
		return sc, fmt.Errorf("%w: Throttle.Limit %d exceeds %d (NIST SP 800-63B §5.2.2)", ErrBadInput, sc.limit, MaxLockout)
	case sc.lockAfter > sc.limit:
		return sc, fmt.Errorf("%w: Throttle.LockAfter %d exceeds the limit of %d consecutive failures (NIST SP 800-63B §5.2.2)", ErrBadInput, sc.lockAfter, sc.limit)
	case sc.lockFor < 0:
		return sc, fmt.Errorf("%w: Throttle.LockFor is negative", ErrBadInput)
	}
	if sc.lockFor == 0 {
		// The first lock is final.
		sc.limit = sc.lockAfter
	}
	return sc, nil
}

func (c *ClientLimit) schedule() schedule {
	sc := schedule{lockAfter: c.LockAfter, lockFor: c.LockFor, maxLockFor: c.MaxLockFor}
	if sc.lockAfter <= 0 {
		sc.lockAfter = 20
	}
	if sc.lockFor <= 0 {
		sc.lockFor = time.Minute
	}
	if sc.maxLockFor <= 0 {
		sc.maxLockFor = time.Hour
	}
	// Free up to the lock, and an address is never locked for good: that is
	// the accounts' business.
	sc.free, sc.limit = sc.lockAfter, int(^uint(0)>>1)
	return sc
}

func (c *ClientLimit) forget() time.Duration {
	if c.Forget <= 0 {
		return 24 * time.Hour
	}
	return c.Forget
}

// wait is how long the next attempt must wait after n consecutive failures;
// forever reports a lock that only Unlock ends.
func (sc *schedule) wait(n int) (d time.Duration, forever bool) {
	switch {
	case n >= sc.limit:
		return 0, true
	case n >= sc.lockAfter:
		return doubled(sc.lockFor, n-sc.lockAfter, sc.maxLockFor), false
	case n <= sc.free:
		return 0, false
	}
	return doubled(sc.base, n-sc.free-1, sc.max), false
}

// doubled is d doubled k times, capped at max.
func doubled(d time.Duration, k int, max time.Duration) time.Duration {
	for ; k > 0 && d < max; k-- {
		d *= 2
	}
	return min(d, max)
}

// refusal is the error for state st at now, or nil when an attempt may be
// evaluated.
func (sc *schedule) refusal(st *ThrottleState, now time.Time) error {
	if st.Failures >= sc.limit {
		return &ThrottledError{Locked: true, Failures: st.Failures}
	}
	if now.Before(st.NotBefore) {
		return &ThrottledError{RetryAfter: st.NotBefore.Sub(now), Locked: st.Failures >= sc.lockAfter, Failures: st.Failures}
	}
	return nil
}

// Attempt records an attempt by subject with a factor before it is evaluated.
// It returns a *ThrottledError (errors.Is ErrThrottled) when the attempt must
// not be evaluated. When the attempt then succeeds, call Succeed; when it
// fails, nothing more is needed.
func (t *Throttle) Attempt(ctx context.Context, subject Subject, kind Kind) error {
	if err := kind.Validate(); err != nil {
		return err
	}
	_, err := t.attempt(ctx, ThrottleKey{subject, kind}, "", time.Time{})
	return err
}

// AttemptFrom is Attempt for a request from remote (the client's address,
// with or without a port; see ClientAddress): with Clients set, an address
// that failed too often is refused before the account's count moves. Call
// Failed when the attempt then fails, Succeed when it succeeds.
func (t *Throttle) AttemptFrom(ctx context.Context, subject Subject, kind Kind, remote string) error {
	if err := kind.Validate(); err != nil {
		return err
	}
	_, err := t.attempt(ctx, ThrottleKey{subject, kind}, remote, time.Time{})
	return err
}

// Failed counts a failed attempt from remote against its address (see
// ClientLimit). It does nothing without Clients or without an address.
func (t *Throttle) Failed(ctx context.Context, remote string) error {
	return t.clientFailed(ctx, remote, time.Time{})
}

func (t *Throttle) now(at time.Time) time.Time {
	if at.IsZero() {
		return clockOr(t.Clock).Now()
	}
	return at
}

// attempt is AttemptFrom on a key already built, at the instant at of the
// caller's ceremony; a zero at reads the throttle's clock. When this
// attempt, should it fail, locks the key, it also returns the lock (for the
// audit trail: a block and its end are audited, RTS on SCA Article 4).
func (t *Throttle) attempt(ctx context.Context, key ThrottleKey, remote string, at time.Time) (*ThrottledError, error) {
	sc, err := t.schedule()
	if err != nil {
		return nil, err
	}
	if t.Clients != nil && remote != "" {
		if err := t.clientStatus(ctx, ClientAddress(remote), at); err != nil {
			return nil, err
		}
	}
	n, err := t.count(ctx, key, &sc, at, 0)
	if err != nil || n < sc.lockAfter {
		return nil, err
	}
	d, _ := sc.wait(n)
	return &ThrottledError{Locked: true, RetryAfter: d, Failures: n}, nil
}

// count adds a failure to key's record in one compare-and-swap, unless the
// record refuses an attempt now. A record that has been quiet for forget
// (when set) starts again from zero.
func (t *Throttle) count(ctx context.Context, key ThrottleKey, sc *schedule, at time.Time, forget time.Duration) (int, error) {
	// A success deletes the record, so nearly every attempt finds none: the
	// first round assumes so and tries to create it, which the store refuses
	// if a record exists after all. Only then is it read. The outcome is the
	// same compare-and-swap, with one store call fewer on the common path.
	for loaded := false; ; loaded = true {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		now := t.now(at)
		var st ThrottleState
		if loaded {
			var err error
			if st, err = t.Store.LoadThrottle(ctx, key); err != nil {
				return 0, fmt.Errorf("identity: load throttle: %w", err)
			}
		}
		n := st.Failures + 1
		if forget > 0 && st.Version > 0 && now.Sub(st.NotBefore) >= forget {
			n = 1
		} else if err := sc.refusal(&st, now); err != nil {
			return 0, err
		}
		// The count goes on through timed locks: only Succeed or Unlock
		// clears it (NIST SP 800-63B §5.2.2 counts consecutive failures).
		d, _ := sc.wait(n)
		next := ThrottleState{Failures: n, NotBefore: now.Add(d), Version: st.Version + 1}
		ok, err := t.Store.SwapThrottle(ctx, key, st, next)
		if err != nil {
			return 0, fmt.Errorf("identity: record attempt: %w", err)
		}
		if ok {
			return n, nil
		}
		// Another request changed the record first: re-read and decide again.
	}
}

func clientKey(client string) ThrottleKey { return ThrottleKey{Subject(client), KindClient} }

// clientStatus refuses an address that is locked now.
func (t *Throttle) clientStatus(ctx context.Context, client string, at time.Time) error {
	st, err := t.Store.LoadThrottle(ctx, clientKey(client))
	if err != nil {
		return fmt.Errorf("identity: load throttle: %w", err)
	}
	sc := t.Clients.schedule()
	if err := sc.refusal(&st, t.now(at)); err != nil {
		return fmt.Errorf("from this address: %w", err)
	}
	return nil
}

func (t *Throttle) clientFailed(ctx context.Context, remote string, at time.Time) error {
	if t.Clients == nil || remote == "" {
		return nil
	}
	client := ClientAddress(remote)
	if err := checkField("client address", client); err != nil {
		return err
	}
	sc := t.Clients.schedule()
	_, err := t.count(ctx, clientKey(client), &sc, at, t.Clients.forget())
	if err != nil && !isThrottled(err) {
		return err
	}
	// A failure that raced past the address's lock is still counted by the
	// account; the address stays locked as it was.
	return nil
}

func isThrottled(err error) bool {
	_, ok := err.(*ThrottledError)
	return ok
}

// Succeed clears the failure count after a successful attempt.
func (t *Throttle) Succeed(ctx context.Context, subject Subject, kind Kind) error {
	return t.Unlock(ctx, subject, kind)
}

// Unlock clears the failure count and any lock of subject's factor. An
// administrator's unlock should be audited: Services.Unlock does both.
func (t *Throttle) Unlock(ctx context.Context, subject Subject, kind Kind) error {
	if err := kind.Validate(); err != nil {
		return err
	}
	return t.reset(ctx, ThrottleKey{subject, kind})
}

// UnlockClient clears the count of a client address (an administrator's
// action, for an address shared by many users).
func (t *Throttle) UnlockClient(ctx context.Context, remote string) error {
	return t.reset(ctx, clientKey(ClientAddress(remote)))
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
	sc, err := t.schedule()
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
	return sc.refusal(&st, clockOr(t.Clock).Now())
}

// TriesLeft returns how many more consecutive failures subject's factor
// may have before it locks, so that a page can say so after a wrong answer
// (a card reports its PIN's tries left; this is the server's count): 0
// while it is locked, 1 between timed locks (each further failure locks
// again), and 0 at Limit.
func (t *Throttle) TriesLeft(ctx context.Context, subject Subject, kind Kind) (int, error) {
	sc, err := t.schedule()
	if err != nil {
		return 0, err
	}
	if err := kind.Validate(); err != nil {
		return 0, err
	}
	st, err := t.Store.LoadThrottle(ctx, ThrottleKey{subject, kind})
	if err != nil {
		return 0, fmt.Errorf("identity: load throttle: %w", err)
	}
	switch {
	case st.Failures >= sc.limit:
		return 0, nil
	case st.Failures >= sc.lockAfter && clockOr(t.Clock).Now().Before(st.NotBefore):
		return 0, nil
	case st.Failures >= sc.lockAfter:
		return 1, nil
	}
	return sc.lockAfter - st.Failures, nil
}

// ClientAddress is the throttle's key for a request's remote address: the
// host without a port, and for IPv6 its /64 prefix, since one machine is
// commonly handed a whole /64 (RFC 4291 §2.5.1 makes it the usual subnet
// size) and could otherwise take a fresh address per guess. Anything that is
// not an IP address is kept as it is.
func ClientAddress(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return remote
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
