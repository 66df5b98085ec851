// Package identitytest holds the conformance suites of puce: RunStore, which
// every identity.Store implementation passes, and Run, which every
// identity.Authenticator passes (single use, expiry, binding to subject,
// origin and kind, throttling, races, audit). Factors call Run from their own
// tests with a Harness that knows how to enrol and answer.
package identitytest

import (
	"sync"
	"time"
)

// Clock is a settable identity.Clock for tests. It starts at a fixed instant
// and moves only when told to; it is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now implements identity.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Epoch is where test clocks start: a fixed instant, so failures reproduce.
func Epoch() time.Time { return time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC) }
