package httpauth

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/puce-id/puce/identity"
)

// Every ceremony start writes for whoever asks: a begin stores a challenge
// and, for a visitor, the session row that binds it (binding.go); the
// password step and sign-up hash a password and append to the audit trail.
// Expiry and purging (Config.PurgeEvery, identity.Services.PurgeEvery) empty
// the store again, so what it holds is bounded by how fast rows come in
// times how long they live. StartLimit bounds the first factor per client
// address and, for starts nobody has proven anything for yet, per instance:
// OWASP ASVS 4.0.3 V11.1.4 and V2.2.1 (anti-automation), ASVS 5.0 V2.4.1
// (business logic limits against excessive calls) and V6.3.1.

// ErrRateLimited: a client address (or, for anonymous starts, the whole
// instance) started more ceremonies than Config.Starts allows. Nothing was
// written. The error is a *RateLimitError, which says when to retry; it is
// answered 429 Too Many Requests with Retry-After (RFC 6585 §4, RFC 9110
// §10.2.3).
var ErrRateLimited = errors.New("httpauth: ceremony start limit reached")

// RateLimitError is ErrRateLimited with the wait before the next start
// would be allowed.
type RateLimitError struct {
	// RetryAfter is how long until the bucket holds one start again.
	RetryAfter time.Duration
	// Global is true when the instance's bound for anonymous starts, not
	// the address's own, was reached.
	Global bool
	// Addr is the client address the start was counted against (for the
	// log; never shown to the client).
	Addr string
}

func (e *RateLimitError) Error() string {
	scope := "client " + e.Addr
	if e.Global {
		scope = "all anonymous clients"
	}
	return fmt.Sprintf("httpauth: too many ceremony starts from %s; retry after %s", scope, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// StartLimit bounds how often ceremonies may be started: the password step,
// sign-up, and every begin (login, enrolment, approval, signing).
type StartLimit struct {
	// PerMinute is the sustained rate per client address
	// (Manager.ClientAddr; an IPv6 address counts by its /64), default
	// DefaultStartsPerMinute; negative switches the limit off.
	PerMinute int
	// Burst is how many starts an address may make at once after a quiet
	// spell (default DefaultStartBurst).
	Burst int
	// AnonymousPerMinute bounds the starts of sessions with no subject yet
	// (a passkey's or a card's login, a sign-up, a password step), across
	// all addresses, on this instance: a botnet's many addresses each stay
	// under PerMinute, and this is what still bounds the rows they make.
	// Default DefaultAnonymousStartsPerMinute; negative: off. When it is
	// reached, anonymous starts wait for everyone, so size it well above
	// the busiest minute the site has seen.
	AnonymousPerMinute int
	// AnonymousBurst is the instance-wide burst (default a tenth of
	// AnonymousPerMinute).
	AnonymousBurst int
}

// Defaults of StartLimit: a person signs in with a few starts (a password,
// a second factor, a retry); a page left open re-begins a passkey prompt
// now and then. Many people behind one address (a company's NAT) share
// its allowance: raise PerMinute for such a customer base.
const (
	DefaultStartsPerMinute          = 60
	DefaultStartBurst               = 30
	DefaultAnonymousStartsPerMinute = 6000
)

// maxBuckets bounds the limiter's memory: beyond it, addresses whose
// allowance is full again are forgotten, then the least recently seen half.
const maxBuckets = 1 << 16

// rate is a token bucket's refill and size.
type rate struct {
	per   time.Duration // the time one token takes to come back
	burst float64
}

func newRate(perMinute, burst int) (rate, bool) {
	if perMinute < 0 {
		return rate{}, false
	}
	return rate{per: max(time.Minute/time.Duration(perMinute), 1), burst: float64(burst)}, true
}

type bucket struct {
	tokens float64
	at     time.Time
}

// refill brings b to now and reports whether it is full.
func (b *bucket) refill(r rate, now time.Time) bool {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(r.burst, b.tokens+float64(d)/float64(r.per))
		b.at = now
	}
	return b.tokens >= r.burst
}

// take takes a token, or returns how long until one is there.
func (b *bucket) take(r rate) time.Duration {
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(r.per))
	}
	b.tokens--
	return 0
}

// limiter is the Manager's per-address and per-instance count of starts,
// in memory: with N instances behind a balancer an address gets up to N
// times the rate, which still bounds the store.
type limiter struct {
	addr, anon     rate
	addrOn, anonOn bool

	mu      sync.Mutex
	buckets map[string]*bucket
	global  bucket
}

func newLimiter(l *StartLimit) *limiter {
	if l.PerMinute == 0 {
		l.PerMinute = DefaultStartsPerMinute
	}
	if l.Burst <= 0 {
		l.Burst = DefaultStartBurst
	}
	if l.AnonymousPerMinute == 0 {
		l.AnonymousPerMinute = DefaultAnonymousStartsPerMinute
	}
	if l.AnonymousBurst <= 0 {
		l.AnonymousBurst = max(1, l.AnonymousPerMinute/10)
	}
	lm := &limiter{buckets: map[string]*bucket{}}
	lm.addr, lm.addrOn = newRate(l.PerMinute, l.Burst)
	lm.anon, lm.anonOn = newRate(l.AnonymousPerMinute, l.AnonymousBurst)
	lm.global = bucket{tokens: lm.anon.burst}
	return lm
}

// allow counts one start from addr at now; anonymous starts also count
// against the instance's bound. It takes nothing when it refuses: an
// address refused for the global bound keeps its own allowance.
func (l *limiter) allow(addr string, anonymous bool, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if l.addrOn {
		if b = l.buckets[addr]; b == nil {
			if len(l.buckets) >= maxBuckets {
				l.shrink(now)
			}
			b = &bucket{tokens: l.addr.burst, at: now}
			l.buckets[addr] = b
		}
		b.refill(l.addr, now)
		if b.tokens < 1 {
			return &RateLimitError{RetryAfter: b.take(l.addr), Addr: addr}
		}
	}
	if anonymous && l.anonOn {
		if l.global.at.IsZero() {
			l.global.at = now
		}
		l.global.refill(l.anon, now)
		if wait := l.global.take(l.anon); wait > 0 {
			return &RateLimitError{RetryAfter: wait, Global: true, Addr: addr}
		}
	}
	if b != nil {
		b.take(l.addr)
	}
	return nil
}

// shrink forgets the addresses whose allowance is full again; if that
// frees nothing, the least recently seen half.
func (l *limiter) shrink(now time.Time) {
	var oldest time.Time
	for a, b := range l.buckets {
		if b.refill(l.addr, now) {
			delete(l.buckets, a)
		} else if oldest.IsZero() || b.at.Before(oldest) {
			oldest = b.at
		}
	}
	if len(l.buckets) < maxBuckets {
		return
	}
	cut := oldest.Add(now.Sub(oldest) / 2)
	for a, b := range l.buckets {
		if !b.at.After(cut) {
			delete(l.buckets, a)
		}
	}
}

// AllowStart counts a ceremony start by r's client (Manager.ClientAddr)
// against Config.Starts, and returns a *RateLimitError (errors.Is
// ErrRateLimited) when it is one too many. The Endpoints call it before
// every begin, the password step and sign-up; an application's own
// handlers that begin a ceremony (store a challenge, create an account)
// call it first too, and answer its error with WriteError. s is the
// request's session (nil for none): a start in a session with no subject
// yet also counts against the instance's anonymous bound.
func (m *Manager) AllowStart(r *http.Request, s *Session) error {
	return m.allowStart(m.ClientAddr(r), s)
}

func (m *Manager) allowStart(addr string, s *Session) error {
	anonymous := s == nil || s.Subject() == ""
	return m.limit.allow(identity.ClientAddress(addr), anonymous, m.now())
}
