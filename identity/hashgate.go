package identity

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultHashMemory is the memory that a Passwords lets its argon2id hashes
// use at once when MemoryBudget is zero: four hashes with the default
// parameters (64 MiB each), which keeps two cores busy and a small server's
// memory safe.
const DefaultHashMemory = 256 << 20

// DefaultHashWait is how long a password operation waits for room under
// the memory budget before it gives up with a *BusyError.
const DefaultHashWait = 5 * time.Second

// hashGate bounds the memory of the argon2id hashes running at once. It is
// weighted in KiB, argon2's unit.
type hashGate struct {
	sem  *semaphore.Weighted
	size int64
}

type gateOnce struct {
	once sync.Once
	gate *hashGate
}

func (p *Passwords) hashGate() *hashGate {
	p.gate.once.Do(func() {
		budget := p.MemoryBudget
		if budget <= 0 {
			budget = DefaultHashMemory
		}
		// At least one hash of the current parameters always fits, however
		// small the budget: a budget below one hash would refuse every login.
		size := max(budget>>10, int64(p.params().Memory))
		p.gate.gate = &hashGate{sem: semaphore.NewWeighted(size), size: size}
	})
	return p.gate.gate
}

// acquire takes room for a hash of memKiB KiB, waiting up to the Passwords'
// MaxWait. It returns a release function, ctx's error when ctx ends first,
// or a *BusyError when the wait runs out.
func (p *Passwords) acquire(ctx context.Context, memKiB uint32) (release func(), err error) {
	g := p.hashGate()
	n := min(int64(memKiB), g.size)
	release = func() { g.sem.Release(n) }
	if g.sem.TryAcquire(n) {
		return release, nil
	}
	wait := p.MaxWait
	if wait <= 0 {
		wait = DefaultHashWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := g.sem.Acquire(wctx, n); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &BusyError{RetryAfter: max(time.Second, wait/2)}
	}
	return release, nil
}
