package identity

import (
	"sync"
	"time"
)

// RateLimit bounds how often one client address may start a ceremony that
// has no subject yet (a passkey login's options, say). Such a Begin stores a
// challenge for anyone who asks, so without a bound one client could fill
// the challenge store faster than expiry empties it. The count is kept in
// each server instance's memory: with N instances behind a balancer an
// address gets up to N times the rate, which still bounds the store.
type RateLimit struct {
	// PerMinute is the sustained rate per address (default 30); negative
	// switches the limit off.
	PerMinute int
	// Burst is how many may come at once after a quiet spell (default 10).
	Burst int
}

// maxLimiterAddrs bounds the limiter's own memory: past it, addresses whose
// allowance is full again are forgotten, and if that frees nothing the
// oldest half goes.
const maxLimiterAddrs = 1 << 16

// limiter is a token bucket per address.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes one token for addr at now, or reports how long until one is
// there.
func (l *limiter) allow(cfg RateLimit, addr string, now time.Time) (ok bool, wait time.Duration) {
	if cfg.PerMinute < 0 || addr == "" {
		return true, 0
	}
	rate := cfg.PerMinute
	if rate == 0 {
		rate = 30
	}
	burst := cfg.Burst
	if burst <= 0 {
		burst = 10
	}
	perToken := time.Minute / time.Duration(rate)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[string]*bucket)
	}
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxLimiterAddrs {
			l.shrink(float64(burst), perToken, now)
		}
		b = &bucket{tokens: float64(burst), at: now}
		l.buckets[addr] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(elapsed)/float64(perToken))
		b.at = now
	}
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(perToken))
	}
	b.tokens--
	return true, 0
}

// shrink forgets addresses whose bucket has refilled; when none has, the
// least recently seen half.
func (l *limiter) shrink(burst float64, perToken time.Duration, now time.Time) {
	var oldest time.Time
	for a, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(perToken) >= burst {
			delete(l.buckets, a)
		} else if oldest.IsZero() || b.at.Before(oldest) {
			oldest = b.at
		}
	}
	if len(l.buckets) < maxLimiterAddrs {
		return
	}
	cut := oldest.Add(now.Sub(oldest) / 2)
	for a, b := range l.buckets {
		if b.at.Before(cut) {
			delete(l.buckets, a)
		}
	}
}
