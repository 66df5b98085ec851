package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
)

// writeLock makes a Store's writes on SQLite wait for each other in Go,
// and moves SQLite's WAL checkpoints out of them.
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
	ch   chan struct{}
	ckpt *walCheckpointer // nil for ":memory:", which has no WAL
	// waiting counts the goroutines blocked in lock, for unlock's yield;
	// yieldMax is the most waiting that unlock yields to.
	waiting  atomic.Int32
	yieldMax int32
}

// newWriteLock is the write lock of a SQLite store.
func newWriteLock() writeLock {
	return writeLock{ch: make(chan struct{}, 1), yieldMax: int32(yieldPerProc * runtime.GOMAXPROCS(0))}
}

// yieldPerProc bounds unlock's yield: it yields while at most this many
// goroutines per processor wait for the lock (GOMAXPROCS when the store
// opened). Beyond that, yielding made the lock unfair: the goroutine that
// yields goes to the global run queue, which the scheduler serves only
// now and then while the processors' own queues have work, and with 64
// goroutines writing on 2 CPUs some made 4 to 7 times as many writes as
// others, the slowest write taking 124-195 ms against 23-43 ms without the
// yield, for no more writes in all (TestWriteLockFairUnderLoad). The
// logins of BENCHMARKS.md (1 to 4 goroutines on 2 CPUs, at most 3
// waiting) yield as before.
const yieldPerProc = 2

// checkpointBeside has a goroutine run the checkpoints of the WAL file
// db (see walCheckpointer) until close. Call it once, before the store
// is shared.
func (w *writeLock) checkpointBeside(db *sql.DB) { w.ckpt = startCheckpointer(db) }

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

// unlock releases the lock and, when a goroutine waits for it (and not
// too many: yieldPerProc), yields the processor to that one.
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
	if w.ckpt != nil {
		w.ckpt.wrote()
	}
	<-w.ch
	if n := w.waiting.Load(); n > 0 && n <= w.yieldMax {
		runtime.Gosched()
	}
}

// close stops the checkpoints' goroutine.
func (w *writeLock) close() {
	if w.ckpt != nil {
		w.ckpt.close()
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
	if s.writer.ch == nil {
		if tx, err = s.db.BeginTx(ctx, opts); err != nil {
			unlock()
			return nil, nil, err
		}
		return tx, func() {
			tx.Rollback()
			s.prepareWanted(ctx)
		}, nil
	}
	// On SQLite the transaction must be over, and the file's write lock
	// free, before the store's lock goes to the next writer. A transaction
	// is rolled back, once its context ends, by a goroutine of
	// database/sql's (Tx.awaitDone): the Rollback below then found it done
	// and returned at once, and the next writer, woken at once, met the
	// file still locked and slept in the busy handler
	// (TestCancelledWriteLeavesNoSQLiteLock). Begun on a connection of its
	// own, the transaction holds that connection until its rollback is
	// over, whoever runs it, and Conn.Close waits for that.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	if tx, err = conn.BeginTx(ctx, opts); err != nil {
		conn.Close()
		unlock()
		return nil, nil, err
	}
	return tx, func() {
		tx.Rollback()
		conn.Close()
		unlock()
		s.prepareWanted(ctx)
	}, nil
}

// walCheckpointer copies the write-ahead log back into the database file
// on a goroutine of its own, beside the writes rather than inside one.
//
// SQLite checkpoints by itself when a commit leaves the log at 1000 pages
// or more (wal_autocheckpoint), and it does so inside that COMMIT, which
// the write lock is held across: with synchronous=NORMAL a checkpoint also
// syncs the log and the database file (PRAGMA synchronous, "WAL mode").
// Traced on a WebAuthn login benchmark, one commit in 40 to 80 took over a
// millisecond, and they made the mean commit 174–260 µs against a median
// of 75–77 µs: time every other login's write waited (BENCHMARKS.md,
// issue 22, "SQLite under concurrent logins"). SQLite's documentation
// (sqlite.org/wal.html, "Automatic Checkpoint" and "Performance
// Considerations") names the alternative: turn the automatic checkpoints
// off or up and run them "in a separate thread or process", so that the
// writes never wait for a sync. So the store asks its goroutine for a
// PASSIVE checkpoint every checkpointEvery writes; PASSIVE (what the
// automatic ones are too) neither waits for nor blocks the writer or the
// readers: it copies what no reader still needs and leaves the rest for
// next time. SQLite's automatic threshold stays, raised to
// sqliteAutoCheckpoint pages (the DSN's wal_autocheckpoint): should the
// goroutine fall behind, commits checkpoint as before and the log stays
// bounded.
//
// A checkpoint changes no content: every commit is in the log before its
// COMMIT returns, and readers read it from there. What synchronous=NORMAL
// may lose to a power cut (the commits since the log was last synced, at
// a checkpoint) stays about what it was, the checkpoints coming about as
// often as SQLite's own; only if the goroutine fell behind would it grow,
// up to sqliteAutoCheckpoint pages.
type walCheckpointer struct {
	db     *sql.DB
	writes int // under the write lock
	due    chan struct{}
	// ctx ends at close, which stop does: a checkpoint waiting for a
	// connection (the pool's all taken, say by the application through
	// DB) or running gives up then, rather than hold Close until one is
	// given back. A PASSIVE checkpoint cut short copies less, no harm.
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{}
	// runs and copied count the checkpoints run and the frames they
	// reported copied, for tests.
	runs, copied atomic.Int64
}

const (
	// checkpointEvery is how many writes of a handle ask for a checkpoint.
	// A login is two writes (its challenge, its unit) of 8 to 10 pages
	// together, so this is about as often as SQLite's own 1000 pages.
	// Measured, every 64 writes made a serial TOTP login 1.55–1.57x its
	// anchor where 256 made it 1.49x (1.34x before): probably because
	// after each complete checkpoint the next write restarts the log,
	// and every connection of the pool then reloads the pages it cached.
	checkpointEvery = 256
	// sqliteAutoCheckpoint is SQLite's own threshold, in pages, for when
	// the goroutine falls behind.
	sqliteAutoCheckpoint = 4000
)

func startCheckpointer(db *sql.DB) *walCheckpointer {
	c := &walCheckpointer{db: db, due: make(chan struct{}, 1), done: make(chan struct{})}
	c.ctx, c.stop = context.WithCancel(context.Background())
	go c.run()
	return c
}

// wrote counts a write; the caller holds the write lock.
func (c *walCheckpointer) wrote() {
	c.writes++
	if c.writes%checkpointEvery != 0 {
		return
	}
	select {
	case c.due <- struct{}{}:
	default: // one is asked for already
	}
}

func (c *walCheckpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.due:
		}
		var busy, log, done int
		if err := c.db.QueryRowContext(c.ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
			slog.Debug("puce: SQLite WAL checkpoint failed; the next one, or SQLite's own, will copy these pages", "err", err)
			continue
		}
		c.runs.Add(1)
		c.copied.Add(int64(max(done, 0))) // -1: not in WAL mode
	}
}

// close stops the goroutine and waits for it; later calls do nothing
// (a Store may be closed twice).
func (c *walCheckpointer) close() {
	c.stop()
	<-c.done
}
