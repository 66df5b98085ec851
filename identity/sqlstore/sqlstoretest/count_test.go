package sqlstoretest

import (
	"context"
	"strconv"
	"testing"

	"github.com/puce-id/puce/identity/sqlstore"
)

// The counting driver must count exactly, or every figure built on it is
// wrong: a known sequence of statements gives known counts, on both engines,
// and on PostgreSQL the socket agrees with the model.
func TestCountingDriverSQLite(t *testing.T) {
	s, c := CountingSQLite(t)
	checkCounts(t, s, c)
}

func TestCountingDriverPostgres(t *testing.T) {
	s, c := CountingPostgres(t)
	checkCounts(t, s, c)
}

func checkCounts(t *testing.T, s *sqlstore.Store, c *Counter) {
	ctx := context.Background()
	db := s.DB()
	// One connection, so that statements prepared on it stay prepared.
	db.SetMaxOpenConns(1)
	ph := func(q string) string {
		if s.Engine() == "postgres" {
			return rebindForTest(q)
		}
		return q
	}
	begin := "BEGIN IMMEDIATE"
	if s.Engine() == "postgres" {
		begin = "BEGIN"
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE counted (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	ins, err := db.PrepareContext(ctx, ph(`INSERT INTO counted (id, n) VALUES (?, 0)`))
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	upd, err := db.PrepareContext(ctx, ph(`UPDATE counted SET n = n + 1 WHERE id = ?`))
	if err != nil {
		t.Fatal(err)
	}
	defer upd.Close()
	id := int64(0)
	sequence := func() {
		t.Helper()
		id += 10
		// A transaction: two prepared writes and a read.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.StmtContext(ctx, ins).ExecContext(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.StmtContext(ctx, upd).ExecContext(ctx, id); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, ph(`SELECT n FROM counted WHERE id = ?`), id).Scan(&n); err != nil || n != 1 {
			t.Fatalf("read back %d, %v", n, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		// A write on its own: it commits by itself.
		if _, err := db.ExecContext(ctx, ph(`UPDATE counted SET n = n + 1 WHERE id = ?`), id); err != nil {
			t.Fatal(err)
		}
		// A whole transaction in one string: one round trip.
		q := begin + `; INSERT INTO counted (id, n) VALUES (` + itoa(id+1) + `, 0); DELETE FROM counted WHERE id = ` + itoa(id+1) + `; COMMIT`
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		// A read on its own: no commit that matters.
		if err := db.QueryRowContext(ctx, ph(`SELECT n FROM counted WHERE id = ?`), id).Scan(&n); err != nil || n != 2 {
			t.Fatalf("read back %d, %v", n, err)
		}
	}
	// Once to warm what pgx prepares and caches by itself, then counted.
	sequence()
	c.Reset()
	sequence()
	got := c.Counts()
	full := got
	if got.DriverNanos <= 0 || got.TxNanos <= 0 || got.TxNanos > got.DriverNanos*4 {
		t.Errorf("times: %d ns in the driver, %d ns in transactions", got.DriverNanos, got.TxNanos)
	}
	got.DriverNanos, got.TxNanos = 0, 0
	want := Counts{
		Statements: 7, Inserts: 2, Updates: 2, Deletes: 1, AutoCommits: 1,
		Begins: 2, Commits: 2,
		// begin, 3 statements, commit; the lone write; the string; the read
		RoundTrips: 8,
	}
	if s.Engine() == "postgres" {
		want.WireRoundTrips = 8
	}
	if got != want {
		t.Errorf("counts:\n got %+v\nwant %+v", got, want)
	}
	if got.Committed() != 3 || got.Writes() != 5 {
		t.Errorf("committed %d, writes %d; want 3, 5", got.Committed(), got.Writes())
	}
	// Paused, nothing counts.
	c.Pause()
	sequence()
	c.Resume()
	if after := c.Counts(); after != full {
		t.Errorf("counted while paused:\n got %+v\nwant %+v", after, full)
	}
}

func TestClassify(t *testing.T) {
	for q, want := range map[string]shape{
		`SELECT 1`: {statements: 1},
		`UPDATE puce_challenges SET consumed_at = ? WHERE id = ? RETURNING kind`:                        {statements: 1, updates: 1},
		`BEGIN IMMEDIATE; INSERT INTO t VALUES (1, 'a;b'); UPDATE t SET x = 1; DELETE FROM t; COMMIT`:   {statements: 3, inserts: 1, updates: 1, deletes: 1, begins: 1, commits: 1},
		"-- a comment; still a comment\nWITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x":             {statements: 1, inserts: 1},
		"WITH h AS (UPDATE p SET n = n + 1 RETURNING n) INSERT INTO t SELECT n FROM h":                  {statements: 1, inserts: 1, updates: 1},
		"WITH u AS (INSERT INTO t VALUES (1) ON CONFLICT (k) DO UPDATE SET n = 2 RETURNING 1) SELECT 1": {statements: 1, inserts: 1},
		`ROLLBACK`: {rollbacks: 1},
		` ; ;`:     {},
	} {
		if got := classify(q); got != want {
			t.Errorf("classify(%q) = %+v, want %+v", q, got, want)
		}
	}
}

func rebindForTest(q string) string {
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, '$')
			out = append(out, itoa(int64(n))...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
