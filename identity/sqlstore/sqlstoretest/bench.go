package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity/sqlstore"
)

// Finisher is one factor's verification readied for a benchmark.
type Finisher struct {
	// Prepare readies the next n verifications (challenges issued, answers
	// computed). It runs with the timer stopped and counting paused.
	Prepare func(n int)
	// Finish runs the i-th prepared verification, 0 ≤ i < n.
	Finish func(i int) error
	// Batch is the most verifications Prepare can ready at once (zero: a
	// default of 256), for factors whose supply is bounded, such as a set
	// of recovery codes.
	Batch int
}

// Engine is a database the benchmarks run on.
type Engine struct {
	Name string
	Open func(testing.TB) (*sqlstore.Store, *Counter)
}

// Engines are SQLite (a WAL file in a temporary directory) and PostgreSQL
// (a fresh schema; skipped loudly without PUCE_POSTGRES_DSN), both through
// the counting driver.
var Engines = []Engine{{"SQLite", CountingSQLite}, {"Postgres", CountingPostgres}}

// batchSize is how many verifications are readied at once: enough that the
// stopped timer's bookkeeping is rare, few enough that a batch of
// challenges is what a busy server has in flight.
const batchSize = 256

// BenchFinish measures a factor's Finish on each engine beside its anchors,
// all on one database per engine and in the same run:
//
//	<engine>/Finish    the verification, with stmts/op, roundtrips/op,
//	                   commits/op (and wire-rt/op on PostgreSQL)
//	<engine>/bare-tx   the same row writes as Finish (counted from two
//	                   untimed verifications first), one statement per row
//	                   in one BEGIN … COMMIT: SQLite's anchor
//	<engine>/bare-1rt  the same transaction sent as one string, one round
//	                   trip and one commit: PostgreSQL's anchor
//
// setup builds the factor on the store, with one subject enrolled.
func BenchFinish(b *testing.B, setup func(testing.TB, *sqlstore.Store) Finisher) {
	for _, eng := range Engines {
		b.Run(eng.Name, func(b *testing.B) {
			s, c := eng.Open(b)
			f := setup(b, s)
			// Two untimed verifications: the first prepares the store's
			// statements and warms caches; the second is the steady state,
			// whose writes the anchors repeat.
			c.Pause()
			f.Prepare(2)
			c.Resume()
			if err := f.Finish(0); err != nil {
				b.Fatalf("first Finish: %v", err)
			}
			c.Reset()
			if err := f.Finish(1); err != nil {
				b.Fatalf("second Finish: %v", err)
			}
			w := c.Counts()
			rows := RowWrites{Inserts: int(w.Inserts), Updates: int(w.Updates), Deletes: int(w.Deletes)}
			b.Run("Finish", func(b *testing.B) { benchOps(b, c, f) })
			b.Run("bare-tx", func(b *testing.B) { BenchBare(b, s, c, rows, false) })
			b.Run("bare-1rt", func(b *testing.B) { BenchBare(b, s, c, rows, true) })
		})
	}
}

func benchOps(b *testing.B, c *Counter, f Finisher) {
	batch := f.Batch
	if batch <= 0 {
		batch = batchSize
	}
	b.ReportAllocs()
	c.Reset()
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			c.Pause()
			f.Prepare(min(batch, b.N-i))
			c.Resume()
			b.StartTimer()
		}
		if err := f.Finish(i % batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Report(b)
}

// RowWrites is the row writes of one operation, by kind.
type RowWrites struct{ Inserts, Updates, Deletes int }

func (w RowWrites) String() string {
	return fmt.Sprintf("%d inserts, %d updates, %d deletes", w.Inserts, w.Updates, w.Deletes)
}

// BenchBare is the anchor for an operation that writes w: a bare
// transaction on the same database doing those writes and nothing else, on
// a table of its own with rows about as wide as an audit record (an id, a
// number, 128 bytes): inserts of new rows; updates by primary key of rows
// that every operation updates (as the audit head and a credential are);
// deletes of rows this operation inserted (as the throttle record is), then
// of older ones. No reads, no conditions, one commit.
//
// With oneRoundTrip false it is one BEGIN (IMMEDIATE on SQLite, as the
// store's transactions are), a prepared statement per row and COMMIT: one
// round trip per statement on PostgreSQL. With oneRoundTrip true the whole
// transaction is one string of statements with literal values, which pgx
// sends by the simple protocol: one round trip, the least a transaction
// can take.
func BenchBare(b *testing.B, s *sqlstore.Store, c *Counter, w RowWrites, oneRoundTrip bool) {
	ctx := context.Background()
	db := s.DB()
	pg := s.Engine() == "postgres"
	c.Pause()
	defer c.Resume()
	typ, ph := "BLOB", func(int) string { return "?" }
	if pg {
		typ, ph = "BYTEA", func(n int) string { return fmt.Sprintf("$%d", n) }
	}
	table := fmt.Sprintf("puce_bare_%x", randBytes(4))
	must := func(err error) {
		if err != nil {
			b.Helper()
			b.Fatalf("bare anchor: %v", err)
		}
	}
	_, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, payload `+typ+` NOT NULL)`)
	must(err)
	b.Cleanup(func() { db.ExecContext(context.Background(), `DROP TABLE `+table) })
	payload := randBytes(128)
	// Rows 1..Updates are the ones every operation updates; inserted ids
	// start above them.
	for id := 1; id <= w.Updates; id++ {
		_, err := db.ExecContext(ctx, `INSERT INTO `+table+` (id, n, payload) VALUES (`+ph(1)+`, 0, `+ph(2)+`)`, id, payload)
		must(err)
	}
	// Deletes beyond an operation's own inserts take rows inserted before
	// the clock starts.
	extra := max(0, w.Deletes-w.Inserts)
	next := int64(w.Updates + 1)
	var older []int64
	if extra > 0 {
		n := extra * b.N
		tx, err := db.BeginTx(ctx, nil)
		must(err)
		for range n {
			_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (id, n, payload) VALUES (`+ph(1)+`, 0, `+ph(2)+`)`, next, payload)
			must(err)
			older = append(older, next)
			next++
		}
		must(tx.Commit())
	}
	ins, upd, del := prepareBare(b, db, table, ph)
	plan := func() (inserted, deleted []int64) {
		for range w.Inserts {
			inserted = append(inserted, next)
			next++
		}
		for k := range w.Deletes {
			if k < len(inserted) {
				deleted = append(deleted, inserted[len(inserted)-1-k])
			} else {
				deleted, older = append(deleted, older[0]), older[1:]
			}
		}
		return inserted, deleted
	}
	hexPayload := hex.EncodeToString(payload)
	lit := "X'" + hexPayload + "'"
	begin := "BEGIN IMMEDIATE"
	if pg {
		lit, begin = `'\x`+hexPayload+`'`, "BEGIN"
	}
	b.ReportAllocs()
	c.Reset()
	c.Resume()
	b.ResetTimer()
	for range b.N {
		inserted, deleted := plan()
		if oneRoundTrip {
			var q strings.Builder
			q.WriteString(begin)
			for _, id := range inserted {
				fmt.Fprintf(&q, "; INSERT INTO %s (id, n, payload) VALUES (%d, 0, %s)", table, id, lit)
			}
			for id := 1; id <= w.Updates; id++ {
				fmt.Fprintf(&q, "; UPDATE %s SET n = n + 1, payload = %s WHERE id = %d", table, lit, id)
			}
			for _, id := range deleted {
				fmt.Fprintf(&q, "; DELETE FROM %s WHERE id = %d", table, id)
			}
			q.WriteString("; COMMIT")
			_, err := db.ExecContext(ctx, q.String())
			must(err)
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		must(err)
		for _, id := range inserted {
			_, err := tx.StmtContext(ctx, ins).ExecContext(ctx, id, payload)
			must(err)
		}
		for id := 1; id <= w.Updates; id++ {
			_, err := tx.StmtContext(ctx, upd).ExecContext(ctx, payload, id)
			must(err)
		}
		for _, id := range deleted {
			_, err := tx.StmtContext(ctx, del).ExecContext(ctx, id)
			must(err)
		}
		must(tx.Commit())
	}
	b.StopTimer()
	c.Report(b)
	b.ReportMetric(float64(w.Inserts+w.Updates+w.Deletes), "writes/op")
}

func prepareBare(b *testing.B, db *sql.DB, table string, ph func(int) string) (ins, upd, del *sql.Stmt) {
	b.Helper()
	ctx := context.Background()
	var err error
	prep := func(q string) *sql.Stmt {
		st, e := db.PrepareContext(ctx, q)
		if e != nil && err == nil {
			err = e
		}
		return st
	}
	ins = prep(`INSERT INTO ` + table + ` (id, n, payload) VALUES (` + ph(1) + `, 0, ` + ph(2) + `)`)
	upd = prep(`UPDATE ` + table + ` SET n = n + 1, payload = ` + ph(1) + ` WHERE id = ` + ph(2))
	del = prep(`DELETE FROM ` + table + ` WHERE id = ` + ph(1))
	if err != nil {
		b.Fatalf("bare anchor: prepare: %v", err)
	}
	b.Cleanup(func() { ins.Close(); upd.Close(); del.Close() })
	return ins, upd, del
}

func randBytes(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}
