package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

var watchKey = bytes.Repeat([]byte{0x3c}, 32)

// forEngine runs f on SQLite and PostgreSQL with a function that opens a
// handle on one new database, as each server instance would.
func forEngine(t *testing.T, f func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store)) {
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "puce.db")
		f(t, func(opts ...sqlstore.Option) *sqlstore.Store { return sqlstoretest.SQLiteAt(t, path, opts...) })
	})
	t.Run("Postgres", func(t *testing.T) {
		dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
		f(t, func(opts ...sqlstore.Option) *sqlstore.Store { return openPostgres(t, dsn, opts...) })
	})
}

// watched is a handle with the key that checkpoints only when told.
func watched(open func(opts ...sqlstore.Option) *sqlstore.Store) *sqlstore.Store {
	return open(sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, Partitions: 4, CheckpointEvery: 1 << 20, CheckpointInterval: -1}))
}

func login(t *testing.T, s *sqlstore.Store, subject identity.Subject, i int) {
	t.Helper()
	if err := s.Audit(context.Background(), identity.Event{Time: time.Now(), Subject: subject, Action: "login", Result: identity.Success, Reason: fmt.Sprint(i)}); err != nil {
		t.Fatal(err)
	}
}

func partitionRecords(tr *auditchain.Trail, p int) []*identity.AuditRecord {
	var out []*identity.AuditRecord
	for i := range tr.Records {
		if tr.Records[i].Partition == p {
			out = append(out, &tr.Records[i])
		}
	}
	slices.SortFunc(out, func(a, b *identity.AuditRecord) int { return int(a.Seq - b.Seq) })
	return out
}

// rechainFrom recomputes partition p's hashes from index from on, and its
// head, as whoever writes the database can without the key.
func rechainFrom(tr *auditchain.Trail, p, from int) {
	recs := partitionRecords(tr, p)
	for i := from; i < len(recs); i++ {
		if i > 0 {
			recs[i].Prev = recs[i-1].Hash
		}
		recs[i].Seq = int64(i + 1)
		recs[i].Hash = auditchain.RecordHash(*recs[i])
	}
	for i := range tr.Heads {
		if tr.Heads[i].Partition == p {
			last := recs[len(recs)-1]
			tr.Heads[i].Seq, tr.Heads[i].Hash = last.Seq, last.Hash
		}
	}
}

// TestAuditWatch: what the key alone cannot tell — the newest records,
// after the last checkpoint, deleted or reordered with the chain
// recomputed; the trail cut back to an earlier checkpoint — the handle
// that wrote them finds at its next checkpoint, records in the trail,
// sealed, and VerifyAudit reports from then on, whatever later
// checkpoints cover.
func TestAuditWatch(t *testing.T) {
	ctx := context.Background()
	p := auditchain.Partition("alice", 4)
	keys := identity.AuditKeys{Current: watchKey}
	cases := []struct {
		name   string
		change func(tr *auditchain.Trail)
		found  string
	}{
		{"the newest record deleted, the head rolled back", func(tr *auditchain.Trail) {
			recs := partitionRecords(tr, p)
			last := recs[len(recs)-1]
			tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == p && r.Seq == last.Seq })
			rechainFrom(tr, p, len(recs)-1)
		}, "is gone (records deleted)"},
		{"a record after the checkpoint deleted, the chain recomputed", func(tr *auditchain.Trail) {
			recs := partitionRecords(tr, p)
			gone := recs[len(recs)-2].Seq
			tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == p && r.Seq == gone })
			rechainFrom(tr, p, len(recs)-2)
		}, "was replaced"},
		{"two records after the checkpoint swapped, the chain recomputed", func(tr *auditchain.Trail) {
			recs := partitionRecords(tr, p)
			a, b := recs[len(recs)-2], recs[len(recs)-1]
			a.Event, b.Event = b.Event, a.Event
			a.Nonce, b.Nonce = b.Nonce, a.Nonce
			a.MAC, b.MAC = b.MAC, a.MAC
			rechainFrom(tr, p, len(recs)-2)
		}, "was replaced"},
		{"cut back to the first checkpoint", func(tr *auditchain.Trail) {
			first := tr.Checkpoints[0]
			tr.Checkpoints = tr.Checkpoints[:1]
			for _, h := range first.Heads {
				tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == h.Partition && r.Seq > h.Seq })
				for i := range tr.Heads {
					if tr.Heads[i].Partition == h.Partition {
						tr.Heads[i] = h
					}
				}
			}
		}, "checkpoint 2, which this store wrote, is gone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
				s := watched(open)
				for i := range 3 {
					login(t, s, "alice", i)
					login(t, s, "bob", i)
				}
				mustCheckpoint(t, s)
				for i := 3; i < 6; i++ {
					login(t, s, "alice", i)
				}
				mustCheckpoint(t, s)
				for i := 6; i < 9; i++ {
					login(t, s, "alice", i)
				}
				tamperAudit(t, s, c.change)
				// The window the key leaves open: nothing to see yet.
				if _, err := s.VerifyAudit(ctx, keys); err != nil {
					t.Fatalf("verify before the store's next checkpoint: %v", err)
				}
				err := s.Checkpoint(ctx)
				if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), c.found) {
					t.Fatalf("the store's checkpoint after %s: %v, want ErrAuditBroken saying %q", c.name, err, c.found)
				}
				// Recorded, sealed and covered: the trail stays broken.
				login(t, s, "alice", 10)
				mustCheckpoint(t, s)
				_, err = s.VerifyAudit(ctx, keys)
				if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "a store found the trail changed behind it") {
					t.Fatalf("verify after the store recorded the change: %v", err)
				}
				t.Log(err)
			})
		})
	}
}

func mustCheckpoint(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	if err := s.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestAuditWatchNoFalseAlarm: two instances appending and checkpointing at
// once, to the same partitions, each watching its own records, see no
// change; nor does a handle whose records another's checkpoint covered.
func TestAuditWatchNoFalseAlarm(t *testing.T) {
	ctx := context.Background()
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		a, b := watched(open), watched(open)
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for n, s := range []*sqlstore.Store{a, b} {
			wg.Go(func() {
				for i := range 40 {
					subj := identity.Subject(fmt.Sprintf("user%d", i%6))
					if err := s.Audit(ctx, identity.Event{Time: time.Now(), Subject: subj, Action: "login", Result: identity.Success, Reason: fmt.Sprint(n, i)}); err != nil {
						errs <- err
						return
					}
					if i%7 == 6 {
						if err := s.Checkpoint(ctx); err != nil {
							errs <- err
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		mustCheckpoint(t, a)
		mustCheckpoint(t, b)
		if _, err := a.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTimedCheckpoints: a handle with a key keeps the trail's newest
// checkpoint within its CheckpointInterval while it is open, records or
// none, so that AuditKeys.Fresh holds; once it is closed, no more come.
func TestTimedCheckpoints(t *testing.T) {
	ctx := context.Background()
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		const every = 40 * time.Millisecond
		s := open(sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, Partitions: 4, CheckpointInterval: every}))
		login(t, s, "alice", 0)
		count := func() (n int) {
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// Polled, not timed: a loaded machine only makes it slower.
		for deadline := time.Now().Add(30 * time.Second); count() < 3; time.Sleep(every / 2) {
			if time.Now().After(deadline) {
				t.Fatalf("%d checkpoints after 30 s at one per %v", count(), every)
			}
		}
		if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey, Fresh: time.Minute}); err != nil {
			t.Fatalf("verify an open store's trail with Fresh: %v", err)
		}
		s.Close()
		reader := watched(open)
		var n int
		reader.DB().QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&n)
		time.Sleep(5 * every)
		var after int
		reader.DB().QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&after)
		if after != n {
			t.Fatalf("%d checkpoints written after Close", after-n)
		}
	})
}

// TestAuditWatchIdleHandle: a handle that wrote the newest checkpoint and
// then appends nothing more still notices, at its timed checks, that
// checkpoint gone, even while another instance keeps the trail's newest
// checkpoint fresh on top of the cut (which AuditKeys.Fresh then lets
// through). Before, an idle handle's tick saw a fresh newest checkpoint
// and checked nothing, for as long as it stayed idle.
func TestAuditWatchIdleHandle(t *testing.T) {
	ctx := context.Background()
	keys := identity.AuditKeys{Current: watchKey, Fresh: time.Hour}
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		a, b := watched(open), watched(open)
		login(t, b, "bob", 0)
		mustCheckpoint(t, b)
		for i := range 3 {
			login(t, a, "alice", i)
		}
		mustCheckpoint(t, a)
		// Cut back to b's checkpoint: a's checkpoint and records gone.
		tamperAudit(t, a, func(tr *auditchain.Trail) {
			first := tr.Checkpoints[0]
			tr.Checkpoints = tr.Checkpoints[:1]
			for _, h := range first.Heads {
				tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == h.Partition && r.Seq > h.Seq })
				for i := range tr.Heads {
					if tr.Heads[i].Partition == h.Partition {
						tr.Heads[i] = h
					}
				}
			}
		})
		// b wrote nothing that is gone; its checkpoint makes the cut trail fresh.
		mustCheckpoint(t, b)
		if _, err := a.VerifyAudit(ctx, keys); err != nil {
			t.Fatalf("the cut trail, freshly checkpointed, with the key and Fresh: %v", err)
		}
		// a's timed check: nothing of its own waiting, the newest checkpoint fresh.
		err := a.CheckpointIfDue(ctx, time.Hour)
		if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "checkpoint 2, which this store wrote, was replaced") {
			t.Fatalf("the idle handle's timed check after its checkpoint was cut: %v, want ErrAuditBroken", err)
		}
		if _, err := a.VerifyAudit(ctx, keys); !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "a store found the trail changed behind it") {
			t.Fatalf("verify after the idle handle recorded the cut: %v", err)
		}
		// Honest: a timed check with nothing changed writes nothing.
		c, d := watched(open), watched(open)
		mustCheckpoint(t, c)
		mustCheckpoint(t, d)
		var before, after int
		c.DB().QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&before)
		if err := c.CheckpointIfDue(ctx, time.Hour); err != nil {
			t.Fatalf("an honest idle handle's timed check: %v", err)
		}
		c.DB().QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&after)
		if after != before {
			t.Fatalf("an idle handle's timed check with nothing changed wrote %d checkpoints", after-before)
		}
	})
}

// logged captures what the store logs through the default slog logger for
// the rest of the test (no test of this package runs in parallel).
func logged(t *testing.T) func() string {
	var mu sync.Mutex
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestAuditWatchCheckpointFails: when the checkpoint that would record a
// change fails — whoever writes the database can make it fail, by
// deleting the head row the alarm is appended to, or the legacy chain's —
// the finding is not silent: it is logged and returned as ErrAuditBroken
// at once, and recorded in the trail by the first checkpoint that
// succeeds. Before, only "checkpoint failed" came out, and a handle closed
// before the database was put back took what it saw with it.
func TestAuditWatchCheckpointFails(t *testing.T) {
	ctx := context.Background()
	q := auditchain.Partition("", 4) // the alarm's partition
	subject := identity.Subject("alice")
	for _, c := range []identity.Subject{"alice", "bob", "carol", "dave"} {
		if auditchain.Partition(c, 4) != q {
			subject = c
			break
		}
	}
	p := auditchain.Partition(subject, 4)
	for _, row := range []struct {
		name, sel, del, ins string
		args                int
	}{
		{"the alarm's head row",
			`SELECT seq, prev, hash FROM puce_audit_parts WHERE part = ` + fmt.Sprint(q),
			`DELETE FROM puce_audit_parts WHERE part = ` + fmt.Sprint(q),
			`INSERT INTO puce_audit_parts (part, seq, prev, hash) VALUES (` + fmt.Sprint(q) + `, ?, ?, ?)`, 3},
		{"the legacy head row",
			`SELECT seq, hash, hash FROM puce_audit_head WHERE id = 1`,
			`DELETE FROM puce_audit_head`,
			`INSERT INTO puce_audit_head (id, seq, hash) VALUES (1, ?, ?)`, 2},
	} {
		t.Run(row.name, func(t *testing.T) {
			forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
				logs := logged(t)
				s := watched(open)
				for i := range 3 {
					login(t, s, subject, i)
				}
				mustCheckpoint(t, s)
				for i := 3; i < 6; i++ {
					login(t, s, subject, i)
				}
				tamperAudit(t, s, func(tr *auditchain.Trail) {
					recs := partitionRecords(tr, p)
					last := recs[len(recs)-1]
					tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == p && r.Seq == last.Seq })
					rechainFrom(tr, p, len(recs)-1)
				})
				var seq int64
				var a, b []byte
				if err := s.DB().QueryRow(row.sel).Scan(&seq, &a, &b); err != nil {
					t.Fatal(err)
				}
				if _, err := s.DB().Exec(row.del); err != nil {
					t.Fatal(err)
				}
				err := s.Checkpoint(ctx)
				if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "is gone (records deleted)") {
					t.Fatalf("a checkpoint that found a change and then failed: %v, want ErrAuditBroken saying what it found", err)
				}
				if l := logs(); !strings.Contains(l, "is gone (records deleted)") {
					t.Fatalf("a checkpoint that found a change and then failed logged:\n%s", l)
				}
				if _, err := s.DB().Exec(ph(s, row.ins), []any{seq, a, b}[:row.args]...); err != nil {
					t.Fatal(err)
				}
				if err := s.Checkpoint(ctx); !errors.Is(err, identity.ErrAuditBroken) {
					t.Fatalf("the next checkpoint, the database put back: %v", err)
				}
				if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey}); !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "a store found the trail changed behind it") {
					t.Fatalf("verify: %v", err)
				}
			})
		})
	}
}

// TestAuditConfigTinyInterval: a CheckpointInterval too short to tick is
// refused as bad input; it used to start a ticker of zero period, which
// panics in the store's goroutine and ends the process.
func TestAuditConfigTinyInterval(t *testing.T) {
	for _, d := range []time.Duration{1, 3, time.Microsecond} {
		_, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "tiny.db"),
			sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, CheckpointInterval: d}))
		if !errors.Is(err, identity.ErrBadInput) {
			t.Fatalf("CheckpointInterval %v: %v, want ErrBadInput", d, err)
		}
	}
}

// TestAuditWatchNoFalseAlarmCancelled: honest operation with everything
// that can end half-way — appends, units and checkpoints whose contexts
// end at random moments, timed checkpoints ticking on both handles, one
// handle closed while the other runs on — never makes a handle report the
// trail changed.
func TestAuditWatchNoFalseAlarmCancelled(t *testing.T) {
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		logs := logged(t)
		cfg := identity.AuditConfig{Key: watchKey, Partitions: 4, CheckpointEvery: 5, CheckpointInterval: 20 * time.Millisecond}
		a, b := open(sqlstore.WithAudit(cfg)), open(sqlstore.WithAudit(cfg))
		var wg sync.WaitGroup
		broken := make(chan error, 16)
		var failed atomic.Int64
		for n, s := range []*sqlstore.Store{a, b, a, b} {
			wg.Go(func() {
				for i := range 40 {
					// Every other operation ends within 3 ms, most
					// half-way; the others have time to finish.
					d := 5 * time.Second
					if i%2 == 0 {
						d = time.Duration((i*7919+n*104729)%3000) * time.Microsecond
					}
					ctx, cancel := context.WithTimeout(context.Background(), d)
					e := identity.Event{Time: time.Now(), Subject: identity.Subject(fmt.Sprintf("user%d", i%5)), Action: "login", Result: identity.Success, Reason: fmt.Sprint(n, i)}
					var err error
					switch i % 3 {
					case 0:
						err = s.Audit(ctx, e)
					case 1:
						err = s.CommitUnit(ctx, &identity.UnitWrites{Events: []identity.Event{e, e}})
					default:
						err = s.Checkpoint(ctx)
					}
					cancel()
					if err != nil {
						failed.Add(1)
					}
					if errors.Is(err, identity.ErrAuditBroken) {
						broken <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(broken)
		for err := range broken {
			t.Fatal(err)
		}
		t.Logf("%d of 160 operations ended by their context", failed.Load())
		a.Close()
		time.Sleep(50 * time.Millisecond) // b's ticks go on alone
		if err := b.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.VerifyAudit(context.Background(), identity.AuditKeys{Current: watchKey, Fresh: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if l := logs(); strings.Contains(l, "changed behind") {
			t.Fatalf("a false alarm was logged:\n%s", l)
		}
	})
}

// TestAuditWatchBetweenStatements: on PostgreSQL the checkpoint's
// transaction is READ COMMITTED, each statement its own snapshot. A change
// committed after the watch's check and before the heads are read would
// be sealed by this checkpoint as genuine, and the records it changed
// forgotten by the watch as checked. The heads are read first now: a
// change before the check is found by it, one after it contradicts the
// heads the checkpoint seals. (SQLite's checkpoint holds the only write
// lock: nothing commits meanwhile.)
func TestAuditWatchBetweenStatements(t *testing.T) {
	ctx := context.Background()
	p := auditchain.Partition("alice", 4)
	dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
	s := watched(func(opts ...sqlstore.Option) *sqlstore.Store { return openPostgres(t, dsn, opts...) })
	for i := range 3 {
		login(t, s, "alice", i)
	}
	mustCheckpoint(t, s)
	for i := 3; i < 6; i++ {
		login(t, s, "alice", i)
	}
	// The newest record deleted, the head rolled back, committed while
	// the checkpoint runs, right after its check.
	s.AfterWatchCheck(func() {
		s.AfterWatchCheck(nil)
		tamperAudit(t, s, func(tr *auditchain.Trail) {
			recs := partitionRecords(tr, p)
			last := recs[len(recs)-1]
			tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == p && r.Seq == last.Seq })
			rechainFrom(tr, p, len(recs)-1)
		})
	})
	err := s.Checkpoint(ctx)
	if err != nil && !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatal(err)
	}
	login(t, s, "alice", 10)
	if err := s.Checkpoint(ctx); err != nil && !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatal(err)
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey}); !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("a record the store appended, deleted between its checkpoint's statements: verify says %v, want ErrAuditBroken", err)
	}
}

// TestTimedCheckpointAfterClockAhead: when the newest checkpoint is dated
// further ahead than any store follows (an instance whose clock was an
// hour ahead), a store with a right clock checkpoints at its next tick,
// dated by its own clock, instead of waiting the hour out with the trail
// unable to pass AuditKeys.Fresh (which reports such a date).
func TestTimedCheckpointAfterClockAhead(t *testing.T) {
	ctx := context.Background()
	keys := identity.AuditKeys{Current: watchKey, Fresh: 10 * time.Minute}
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		cfg := sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, Partitions: 4, CheckpointEvery: 1 << 20, CheckpointInterval: -1})
		ahead := open(cfg, sqlstore.WithClock(identitytest.NewClock(time.Now().Add(time.Hour))))
		login(t, ahead, "alice", 0)
		mustCheckpoint(t, ahead)
		if _, err := ahead.VerifyAudit(ctx, keys); !errors.Is(err, identity.ErrAuditBroken) {
			t.Fatalf("verify with the newest checkpoint dated an hour ahead: %v, want ErrAuditBroken", err)
		}
		right := open(cfg)
		if err := right.CheckpointIfDue(ctx, 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := right.VerifyAudit(ctx, keys); err != nil {
			t.Fatalf("verify after a right clock's tick: %v", err)
		}
	})
}

// TestTimedCheckpointBlocked: whoever can reach the database can hold the
// checkpoint lock (PostgreSQL's advisory lock is open to every role). A
// tick then waits for it; it gives up after an interval and says so,
// tick after tick, rather than wait for ever without a word while the
// handle's watch goes unchecked and the trail's newest checkpoint ages.
func TestTimedCheckpointBlocked(t *testing.T) {
	ctx := context.Background()
	dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
	logs := logged(t)
	holder := openPostgres(t, dsn)
	conn, err := holder.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, sqlstore.CheckpointLockSQL("pg_advisory_lock")); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, sqlstore.CheckpointLockSQL("pg_advisory_unlock"))
	s := openPostgres(t, dsn, sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, Partitions: 4, CheckpointInterval: 40 * time.Millisecond}))
	login(t, s, "alice", 0)
	// Polled, not timed: a loaded machine only makes it slower.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs(), "timed audit checkpoint failed"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no word of the blocked timed checkpoint after 30 s; logged:\n%s", logs())
		}
	}
}

// TestCheckpointAtClose: a handle closed after appending writes a last
// checkpoint, so a deploy leaves no uncovered records behind it, and it
// checks them first: what was deleted before the close is recorded.
func TestCheckpointAtClose(t *testing.T) {
	ctx := context.Background()
	keys := identity.AuditKeys{Current: watchKey}
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		s := watched(open)
		reader := open()
		count := func() (n int) {
			if err := reader.DB().QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for i := range 3 {
			login(t, s, "alice", i)
		}
		s.Close()
		if n := count(); n != 1 {
			t.Fatalf("%d checkpoints after closing a handle that appended 3 records, want 1", n)
		}
		// Nothing appended since: the next close writes none.
		s2 := watched(open)
		s2.Close()
		if n := count(); n != 1 {
			t.Fatalf("%d checkpoints after closing a handle that appended nothing, want 1", n)
		}
		if _, err := reader.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey, Fresh: time.Minute}); err != nil {
			t.Fatal(err)
		}

		s3 := watched(open)
		login(t, s3, "alice", 3)
		login(t, s3, "alice", 4)
		tamperAudit(t, reader, func(tr *auditchain.Trail) {
			p := auditchain.Partition("alice", 4)
			recs := partitionRecords(tr, p)
			last := recs[len(recs)-1]
			tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == p && r.Seq == last.Seq })
			rechainFrom(tr, p, len(recs)-1)
		})
		s3.Close()
		_, err := reader.VerifyAudit(ctx, keys)
		if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "a store found the trail changed behind it") {
			t.Fatalf("verify after a handle closed over a deleted record: %v", err)
		}
	})
}

// TestCheckpointAtStart: a store opening with a key on a trail whose
// newest checkpoint is older than its interval, or that has none, writes
// one before Open returns, so the trail passes AuditKeys.Fresh from the
// start; a second one opening right after writes none.
func TestCheckpointAtStart(t *testing.T) {
	ctx := context.Background()
	forEngine(t, func(t *testing.T, open func(opts ...sqlstore.Option) *sqlstore.Store) {
		cfg := sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, Partitions: 4})
		s := open(cfg)
		count := func() (n int) {
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(); n != 1 {
			t.Fatalf("%d checkpoints after opening a new database with a key, want 1", n)
		}
		if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey, Fresh: time.Minute}); err != nil {
			t.Fatalf("verify a new trail with Fresh: %v", err)
		}
		open(cfg)
		if n := count(); n != 1 {
			t.Fatalf("%d checkpoints after a second store opened at once, want 1", n)
		}
		// Restarted an hour later (its clock): the trail is stale, so the
		// store checkpoints at once.
		open(cfg, sqlstore.WithClock(identitytest.NewClock(time.Now().Add(time.Hour))))
		if n := count(); n != 2 {
			t.Fatalf("%d checkpoints after a store opened an hour after the last, want 2", n)
		}
	})
}
