package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync/atomic"
)

// writeLock makes a Store's writes on SQLite wait for each other in Go.
//
// SQLite has one writer at a time. A connection that finds the write lock
// taken waits through the busy handler, which polls: it sleeps 1, 2, 5,
// 10, 15, 20, 25… milliseconds between tries, however soon the lock comes
// free. With more concurrent logins than one, most writes found the lock
// taken, and the load test's p99 was 66–88 ms for a transaction of well
// under a millisecond. Queued on a channel instead, a waiting write starts
// the moment the previous one ends (p99 22 ms, throughput doubled:
// BENCHMARKS.md, issue 22). The busy handler still arbitrates between
// processes sharing the file; within one handle it no longer has to.
//
// Its zero value (ch nil) is PostgreSQL's: no lock, whose row locks wake
// waiters directly.
type writeLock struct {
	ch chan struct{}
	// waiting counts the goroutines blocked in lock, for unlock's yield.
	waiting atomic.Int32
}

// newWriteLock is the write lock of a SQLite store.
func newWriteLock() writeLock { return writeLock{ch: make(chan struct{}, 1)} }

// lock waits for the lock, or for ctx to end. The returned function
// releases it.
func (w *writeLock) lock(ctx context.Context) (func(), error) {
	if w.ch == nil {
		return func() {}, nil
	}
	select {
	case w.ch <- struct{}{}:
		return w.unlock, nil
	default:
	}
	w.waiting.Add(1)
	defer w.waiting.Add(-1)
	select {
	case w.ch <- struct{}{}:
		return w.unlock, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlstore: wait to write: %w", ctx.Err())
	}
}

// unlock releases the lock and, when a goroutine waits for it, yields the
// processor to that one.
//
// The channel hands the lock to the waiter at once, but the Go scheduler
// only queues it, on this processor, behind the goroutine releasing it,
// which goes on with its own work (a login's next signature check, its
// parsing) while the lock sits idle. An idle processor may take the
// waiter over, but it must first be woken and then, to take a goroutine
// queued that way, sleep first (runtime.runqgrab). In a scheduler trace
// of 2 concurrent WebAuthn logins on 2 CPUs, waiters handed the lock
// spent 36–76 µs per login runnable but not running, the lock idle
// meanwhile; with the yield, 2–4 µs (BENCHMARKS.md, issue 22, "SQLite
// under concurrent logins"). Yielding runs the waiter now, here, and puts
// this goroutine on the global run queue, which an idle processor takes
// from without that sleep.
func (w *writeLock) unlock() {
	<-w.ch
	if w.waiting.Load() > 0 {
		runtime.Gosched()
	}
}

// beginWrite begins a transaction that writes (on SQLite every
// transaction is BEGIN IMMEDIATE and so takes the write lock). end rolls
// it back unless it committed and releases the lock; call it as soon as
// the transaction is over, not later: work after the commit (a
// checkpoint) writes again.
func (s *Store) beginWrite(ctx context.Context, opts *sql.TxOptions) (tx *sql.Tx, end func(), err error) {
	unlock, err := s.writer.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	if tx, err = s.db.BeginTx(ctx, opts); err != nil {
		unlock()
		return nil, nil, err
	}
	return tx, func() { tx.Rollback(); unlock() }, nil
}
