package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
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
// It is nil on PostgreSQL, whose row locks wake waiters directly.
type writeLock chan struct{}

// lock waits for the lock, or for ctx to end. The returned function
// releases it.
func (w writeLock) lock(ctx context.Context) (func(), error) {
	if w == nil {
		return func() {}, nil
	}
	select {
	case w <- struct{}{}:
		return func() { <-w }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlstore: wait to write: %w", ctx.Err())
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
