package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// TestWriteQueueHonoursContext: a write waiting behind another on SQLite
// gives up when its context ends, with the context's error, and writes
// nothing; once the lock is free the same write goes through.
func TestWriteQueueHonoursContext(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unlock, err := s.writer.lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "totp", Subject: "q", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.PutChallenge(short, ch); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PutChallenge behind a held write lock: %v, want DeadlineExceeded", err)
	}
	if _, err := s.ConsumeChallenge(short, ch.ID, now); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ConsumeChallenge behind a held write lock: %v, want DeadlineExceeded", err)
	}
	unlock()
	if _, err := s.ConsumeChallenge(ctx, ch.ID, now); !errors.Is(err, identity.ErrUnknownChallenge) {
		t.Fatalf("the timed-out PutChallenge wrote its challenge: %v", err)
	}
	if err := s.PutChallenge(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeChallenge(ctx, ch.ID, now); err != nil {
		t.Fatal(err)
	}
}

// TestWALCheckpointsBeside: a SQLite file store copies its write-ahead log
// back on its own goroutine after checkpointEvery writes, its connections
// leave SQLite's automatic checkpoints to a raised bound, and Close ends
// the goroutine. An in-memory store has no log and no goroutine.
func TestWALCheckpointsBeside(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := s.writer.ckpt
	if c == nil {
		t.Fatal("no checkpointer on a SQLite file")
	}
	var auto int
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != sqliteAutoCheckpoint {
		t.Fatalf("wal_autocheckpoint = %d, want %d", auto, sqliteAutoCheckpoint)
	}
	now := time.Now()
	for range 2 * checkpointEvery {
		ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "totp", Subject: "w", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.PutChallenge(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	// The goroutine's checkpoints copied the log's frames back (another may
	// still be under way: a PASSIVE one run here now could find it busy).
	for deadline := time.Now().Add(10 * time.Second); c.copied.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no frames copied after 2 x checkpointEvery writes (%d checkpoints)", c.runs.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	default:
		t.Fatal("Close left the checkpoint goroutine running")
	}

	m, err := OpenSQLite(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.writer.ckpt != nil {
		t.Fatal("a checkpointer on :memory:")
	}
}

// TestWriteLockYieldsToWaiter: writes from many goroutines all go through,
// each once, with waiters counted back to zero, and a waiter that gives up
// (its context ended) is not counted after.
func TestWriteLockYieldsToWaiter(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "y.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	const n, each = 8, 20
	errs := make(chan error, n)
	for g := range n {
		go func() {
			for range each {
				ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "totp", Subject: identity.Subject(string(rune('a' + g))), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
				if err := s.PutChallenge(ctx, ch); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM puce_challenges`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != n*each {
		t.Fatalf("%d challenges stored, want %d", rows, n*each)
	}
	unlock, err := s.writer.lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.writer.lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock behind a held lock: %v", err)
	}
	unlock()
	if w := s.writer.waiting.Load(); w != 0 {
		t.Fatalf("%d waiters counted with none waiting", w)
	}
}

// TestCancelledWriteLeavesNoSQLiteLock: a write transaction whose context
// ends while one of its statements runs has let go of SQLite's write lock
// by the time it hands the store's on. database/sql rolls such a
// transaction back on a goroutine of its own, so the rollback that end
// asked for found it already done and returned at once, and the next
// writer, woken by the queue, met the file still locked (SQLITE_BUSY; the
// busy handler's sleep of a millisecond and up in a store's writes): 176
// times in 200 here.
func TestCancelledWriteLeavesNoSQLiteLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Another process, as it were, that does not wait for the lock.
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const runs = 50
	busy := 0
	for range runs {
		cctx, cancel := context.WithCancel(ctx)
		tx, end, err := s.beginWrite(cctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.txExec(cctx, tx, `DELETE FROM puce_throttle WHERE key = ?`, "x"); err != nil {
			t.Fatal(err)
		}
		stop := time.AfterFunc(2*time.Millisecond, cancel)
		var n int64
		err = tx.QueryRowContext(cctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 1000000000) SELECT count(*) FROM c`).Scan(&n)
		stop.Stop()
		cancel()
		if err == nil {
			t.Fatal("a statement of a cancelled transaction ran to its end")
		}
		end()
		if _, err := other.ExecContext(ctx, `BEGIN IMMEDIATE; ROLLBACK`); err != nil {
			busy++
		}
	}
	if busy > 0 {
		t.Fatalf("SQLite's write lock still held after end in %d of %d cancelled transactions", busy, runs)
	}
	// The store writes on.
	now := time.Now()
	if err := s.PutChallenge(ctx, &identity.Challenge{ID: identity.NewChallengeID(), Kind: "totp", Subject: "c", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
}

// TestCloseDoesNotWaitForAConnection: Close ends the checkpoints'
// goroutine even when it waits for a connection that the pool has none
// of (the application holds them, through DB): Close waited for one to
// come back, and so for whatever the application meant to do after it.
func TestCloseDoesNotWaitForAConnection(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "p.db"), WithPool(2))
	if err != nil {
		t.Fatal(err)
	}
	var held []*sql.Conn
	for range 2 {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// A checkpoint is due, as after checkpointEvery writes; its goroutine
	// now waits for a connection.
	for range checkpointEvery {
		s.writer.ckpt.wrote()
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a connection the application holds")
	}
}

// TestWriteLockFairUnderLoad: with many more goroutines writing than
// processors, each gets about as many writes as the others. The releaser's
// yield (unlock) sends the goroutine that yields to the global run queue,
// which the scheduler serves only now and then while local queues have
// work: with 64 goroutines on 2 CPUs some made 4 to 7 times as many writes
// as others, and the slowest write took 124-195 ms where 23-43 ms without
// the yield. Beyond a couple of waiters per processor the waiter handed
// the lock does not sit waiting for an idle processor, which the yield is
// for, and the store no longer yields.
func TestWriteLockFairUnderLoad(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := max(64, 8*runtime.GOMAXPROCS(0))
	var stop atomic.Bool
	counts := make([]int, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h [32]byte
			for !stop.Load() {
				// A login's work besides its writes (a signature, say).
				for range 100 {
					h = sha256.Sum256(h[:])
				}
				now := time.Now()
				ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "totp", Subject: "f", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
				if err := s.PutChallenge(ctx, ch); err != nil {
					t.Error(err)
					return
				}
				counts[i]++
			}
		}()
	}
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()
	lo, hi := slices.Min(counts), slices.Max(counts)
	t.Logf("%d goroutines: %d to %d writes each", g, lo, hi)
	if lo < hi/2 {
		t.Fatalf("%d goroutines writing: one made %d writes, another %d", g, lo, hi)
	}
}
