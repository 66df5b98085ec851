// Package identitytest holds the conformance suites of puce: RunStore, which
// every identity.Store implementation passes, and Run, which every
// identity.Authenticator passes (single use, expiry, binding to subject,
// origin and kind, throttling, races, audit). Factors call Run from their own
// tests with a Harness that knows how to enrol and answer.
package identitytest

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock is a settable identity.Clock for tests. It starts at a fixed instant
// and moves only when told to; it is safe for concurrent use.
type Clock struct {
	// A sequence lock. The code under test reads the clock several times
	// per ceremony: reading takes no lock and moving allocates nothing, so
	// benchmarks measure that code rather than the test clock. Writers
	// serialise on mu and keep seq odd while they write; a reader retries
	// when seq was odd or moved while it read.
	mu        sync.Mutex
	seq       atomic.Uint64
	sec, nsec atomic.Int64
	loc       *time.Location
}

// NewClock returns a clock stopped at t. It reports times in t's location.
func NewClock(t time.Time) *Clock {
	c := &Clock{loc: t.Location()}
	c.Set(t)
	return c
}

// Now implements identity.Clock.
func (c *Clock) Now() time.Time {
	for {
		seq := c.seq.Load()
		sec, nsec := c.sec.Load(), c.nsec.Load()
		if seq%2 == 0 && c.seq.Load() == seq {
			return time.Unix(sec, nsec).In(c.loc)
		}
	}
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store(time.Unix(c.sec.Load(), c.nsec.Load()).Add(d))
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store(t)
}

func (c *Clock) store(t time.Time) {
	c.seq.Add(1)
	c.sec.Store(t.Unix())
	c.nsec.Store(int64(t.Nanosecond()))
	c.seq.Add(1)
}

// Epoch is where test clocks start: a fixed instant, so failures reproduce.
func Epoch() time.Time { return time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC) }

// RunningClock is the system clock moved ahead by a settable offset: time
// passes as in production, and reading it costs what the system clock costs,
// yet a test or benchmark can jump ahead (to the next TOTP step, say) without
// waiting. The zero value is the system clock; it is safe for concurrent use.
type RunningClock struct{ ahead atomic.Int64 }

// Now implements identity.Clock.
func (c *RunningClock) Now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }

// Advance moves the clock forward by d.
func (c *RunningClock) Advance(d time.Duration) { c.ahead.Add(int64(d)) }
