package sqlstoretest

// The counting driver: a database/sql/driver wrapper around the store's real
// driver (modernc SQLite or pgx's stdlib) that counts what a verification
// asks of the database. What is counted, and why:
//
//   - Statements: every SQL statement the driver executes, through a
//     connection or a prepared statement, by Exec or by Query. A string that
//     holds several statements separated by semicolons counts each of them
//     (the bare anchor sends a whole transaction so). BEGIN, COMMIT and
//     ROLLBACK are not statements here; they are Begins, Commits, Rollbacks,
//     whether sent by Conn.BeginTx/Tx.Commit or written in such a string.
//   - Writes (Inserts, Updates, Deletes): statements whose verb, read from
//     the text, is INSERT, UPDATE or DELETE, whether run by Exec or by Query
//     (UPDATE … RETURNING is run by Query); a WITH statement counts each
//     data-modifying verb it holds, being as many row writes.
//   - AutoCommits: writes run outside an explicit transaction. Each commits
//     by itself (SQLite and PostgreSQL wrap a lone statement in its own
//     transaction), and a commit of a write is what costs: a WAL flush and,
//     on SQLite, the one writer lock. Reads outside a transaction also end
//     an implicit transaction, but one that writes nothing, so they are not
//     counted. Committed() is Commits + AutoCommits.
//   - Prepares: Conn.Prepare calls. The store keeps its statements prepared,
//     so in steady state a verification prepares nothing; a non-zero figure
//     means a statement was prepared again (a new connection, a new query).
//   - RoundTrips: the model of waits for the database, one per driver call
//     that sends something and waits for the answer: each Exec or Query
//     (however many statements its string holds: that is what batching
//     buys), each Prepare, each Begin, Commit and Rollback. Reading the rows
//     of a Query costs none: pgx's stdlib driver sends Bind, Execute and
//     Sync together and the whole result comes back in that one exchange
//     (the extended protocol: a prepared statement's execution is one round
//     trip; pgx caches statements by text, so an unprepared Exec with
//     arguments is one round trip too after its first use, two the first
//     time). Not counted by the model: Stmt.Close (pgx sends a DEALLOCATE;
//     sqlstore closes statements only when the store closes) and pgx's
//     session reset, which pings a connection idle for over a second.
//     On SQLite nothing crosses a network: a "round trip" is a call into
//     the engine, and the figure that matters there is commits.
//   - WireRoundTrips (PostgreSQL only): the round trips seen on the socket,
//     counted by a net.Conn wrapper pgx dials through: each read that
//     follows a write (a request sent, then the answer awaited). It catches
//     what the model leaves out (pings, deallocations, pgx's own describes)
//     and counts a pipeline or a batch as the one exchange it is. The test
//     of this file checks the two agree on a known sequence. It can miss
//     an exchange, rarely: when a write stalls, pgx starts a background
//     reader, and a reply read by a Read that began before its request was
//     written is not seen as following it (once in 10,000 round trips on a
//     machine at load average 8). The model is exact; the socket count
//     is the check that the model is complete.
//   - DriverNanos and TxNanos: wall time spent inside the driver's calls
//     (Exec, Query, Prepare, Begin, Commit, Rollback; reading rows after a
//     Query is not included, pgx has them by then), and from the start of
//     each BeginTx to the end of its Commit or Rollback. Beside ns/op they
//     say how much of an operation is waiting for the database, and how
//     much of that is its explicit transactions (in a verification today:
//     the audit append).
//
// Counting is atomic, so it stays exact under parallel benchmarks, and can
// be paused while a benchmark prepares its next batch with the timer
// stopped.

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Counts is what a Counter saw.
type Counts struct {
	Statements                int64 // SQL statements executed, transaction control excluded
	Inserts, Updates, Deletes int64 // writes among the statements, by verb
	AutoCommits               int64 // writes run outside an explicit transaction
	Prepares                  int64
	Begins, Commits           int64
	Rollbacks                 int64
	RoundTrips                int64 // the driver-call model (see the file's comment)
	WireRoundTrips            int64 // on the socket; PostgreSQL only
	DriverNanos, TxNanos      int64 // time in driver calls, and in explicit transactions
}

// Writes is the number of INSERT, UPDATE and DELETE statements.
func (c Counts) Writes() int64 { return c.Inserts + c.Updates + c.Deletes }

// Committed is the number of commits that made writes durable: explicit
// commits and autocommitted writes.
func (c Counts) Committed() int64 { return c.Commits + c.AutoCommits }

// Counter counts one database's statements, round trips and commits.
type Counter struct {
	paused atomic.Bool
	wire   bool // the database is reached over a socket we count on
	// recording: writes are also counted per table (RecordTables), into
	// tables under tmu.
	recording atomic.Bool
	tmu       sync.Mutex
	tables    map[string]*TableWrites
	n         struct {
		statements, inserts, updates, deletes, autoCommits atomic.Int64
		prepares, begins, commits, rollbacks, roundTrips   atomic.Int64
		wireRoundTrips, driverNanos, txNanos               atomic.Int64
	}
}

// Reset sets every count to zero.
func (c *Counter) Reset() {
	n := &c.n
	for _, a := range []*atomic.Int64{&n.statements, &n.inserts, &n.updates, &n.deletes, &n.autoCommits,
		&n.prepares, &n.begins, &n.commits, &n.rollbacks, &n.roundTrips, &n.wireRoundTrips,
		&n.driverNanos, &n.txNanos} {
		a.Store(0)
	}
}

// Pause stops counting (what runs meanwhile is not counted) until Resume:
// for a benchmark's preparation, with its timer stopped.
func (c *Counter) Pause() { c.paused.Store(true) }

// Resume counts again after Pause.
func (c *Counter) Resume() { c.paused.Store(false) }

// Counts returns the counts so far.
func (c *Counter) Counts() Counts {
	n := &c.n
	return Counts{
		Statements: n.statements.Load(), Inserts: n.inserts.Load(), Updates: n.updates.Load(),
		Deletes: n.deletes.Load(), AutoCommits: n.autoCommits.Load(), Prepares: n.prepares.Load(),
		Begins: n.begins.Load(), Commits: n.commits.Load(), Rollbacks: n.rollbacks.Load(),
		RoundTrips: n.roundTrips.Load(), WireRoundTrips: n.wireRoundTrips.Load(),
		DriverNanos: n.driverNanos.Load(), TxNanos: n.txNanos.Load(),
	}
}

// Report adds the counts per operation to b's results, for b.N operations:
// stmts/op, roundtrips/op, commits/op, db-ns/op (DriverNanos) and tx-ns/op
// (TxNanos) always, and wire-rt/op (PostgreSQL), prepares/op and
// rollbacks/op when they apply or are not zero. Call it at
// the end of the timed loop, with the counter reset (or resumed) at its
// start.
func (c *Counter) Report(b *testing.B) {
	b.Helper()
	if b.N == 0 {
		return
	}
	n := c.Counts()
	per := func(v int64) float64 { return float64(v) / float64(b.N) }
	b.ReportMetric(per(n.Statements), "stmts/op")
	b.ReportMetric(per(n.RoundTrips), "roundtrips/op")
	b.ReportMetric(per(n.Committed()), "commits/op")
	b.ReportMetric(per(n.DriverNanos), "db-ns/op")
	b.ReportMetric(per(n.TxNanos), "tx-ns/op")
	if c.wire {
		b.ReportMetric(per(n.WireRoundTrips), "wire-rt/op")
	}
	if n.Prepares != 0 {
		b.ReportMetric(per(n.Prepares), "prepares/op")
	}
	if n.Rollbacks != 0 {
		b.ReportMetric(per(n.Rollbacks), "rollbacks/op")
	}
}

func (c *Counter) add(a *atomic.Int64, v int64) {
	if v != 0 && !c.paused.Load() {
		a.Add(v)
	}
}

// since adds the time since start to a, unless paused.
func (c *Counter) since(a *atomic.Int64, start time.Time) {
	c.add(a, int64(time.Since(start)))
}

// shape is what a query string holds, read from its text.
type shape struct {
	statements, inserts, updates, deletes int64
	begins, commits, rollbacks            int64
}

// classify splits q at semicolons outside quotes and sorts each statement by
// its first keyword. It knows single-quoted strings, double-quoted names and
// comments, which is all the store and the anchor write (no dollar quoting).
func classify(q string) shape {
	var s shape
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) {
			switch q[i] {
			case '\'', '"':
				quote := q[i]
				for i++; i < len(q) && q[i] != quote; i++ {
				}
				continue
			case '-':
				if i+1 < len(q) && q[i+1] == '-' {
					for ; i < len(q) && q[i] != '\n'; i++ {
					}
				}
				continue
			case ';':
			default:
				continue
			}
		}
		s.add(q[start:i])
		start = i + 1
	}
	return s
}

func (s *shape) add(stmt string) {
	// Leading comments name nothing.
	for {
		stmt = strings.TrimSpace(stmt)
		if !strings.HasPrefix(stmt, "--") {
			break
		}
		_, stmt, _ = strings.Cut(stmt, "\n")
	}
	f := strings.Fields(stmt)
	if len(f) == 0 {
		return
	}
	switch strings.ToUpper(f[0]) {
	case "BEGIN", "START":
		s.begins++
		return
	case "COMMIT", "END":
		s.commits++
		return
	case "ROLLBACK":
		s.rollbacks++
		return
	case "INSERT", "REPLACE":
		s.inserts++
	case "UPDATE":
		s.updates++
	case "DELETE":
		s.deletes++
	case "WITH":
		// A statement with data-modifying common table expressions writes
		// in each of them (sqlstore's audit append moves a partition head
		// and inserts a record in one statement): count every verb, but
		// not the UPDATE of an upsert's DO UPDATE.
		for i, w := range f[1:] {
			switch strings.ToUpper(strings.TrimLeft(w, "(")) {
			case "INSERT":
				s.inserts++
			case "UPDATE":
				if !strings.EqualFold(f[i], "DO") {
					s.updates++
				}
			case "DELETE":
				s.deletes++
			}
		}
	}
	s.statements++
}

func (s shape) writes() int64 { return s.inserts + s.updates + s.deletes }

// ran counts one execution of a query of shape s on a connection that is
// (or is not) inside an explicit transaction: one round trip, whatever the
// string holds.
func (c *Counter) ran(s shape, q string, inTx bool) {
	if c.paused.Load() {
		return
	}
	if s.writes() != 0 && c.recording.Load() {
		c.record(q)
	}
	n := &c.n
	c.add(&n.roundTrips, 1)
	c.add(&n.statements, s.statements)
	c.add(&n.inserts, s.inserts)
	c.add(&n.updates, s.updates)
	c.add(&n.deletes, s.deletes)
	c.add(&n.begins, s.begins)
	c.add(&n.commits, s.commits)
	c.add(&n.rollbacks, s.rollbacks)
	if !inTx && s.begins == 0 {
		c.add(&n.autoCommits, s.writes())
	}
}

// connector wraps the real driver's connector.
type connector struct {
	inner driver.Connector
	c     *Counter
}

func (k *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := k.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{inner: conn, c: k.c}, nil
}

func (k *connector) Driver() driver.Driver { return k.inner.Driver() }

// dsnConnector is a connector for a driver without one of its own.
type dsnConnector struct {
	d   driver.Driver
	dsn string
}

func (k dsnConnector) Connect(context.Context) (driver.Conn, error) { return k.d.Open(k.dsn) }
func (k dsnConnector) Driver() driver.Driver                        { return k.d }

// countingConn forwards to the real connection every optional interface
// database/sql looks for, answering as database/sql would for one the real
// connection lacks (driver.ErrSkip falls back to the general path), so the
// wrapper changes what is counted and nothing else.
type countingConn struct {
	inner driver.Conn
	c     *Counter
	// inTx: an explicit transaction is open, since txStart. database/sql
	// uses a connection from one goroutine at a time, so they need no lock.
	inTx    bool
	txStart time.Time
}

var (
	_ driver.ConnPrepareContext = (*countingConn)(nil)
	_ driver.ConnBeginTx        = (*countingConn)(nil)
	_ driver.ExecerContext      = (*countingConn)(nil)
	_ driver.QueryerContext     = (*countingConn)(nil)
	_ driver.Pinger             = (*countingConn)(nil)
	_ driver.NamedValueChecker  = (*countingConn)(nil)
	_ driver.SessionResetter    = (*countingConn)(nil)
	_ driver.Validator          = (*countingConn)(nil)
)

// Unwrap returns the real driver connection (for sql.Conn.Raw users).
func (w *countingConn) Unwrap() driver.Conn { return w.inner }

// ObserveBatch counts a batch sqlstore sent straight to pgx, past
// database/sql: one round trip for all its queries (pipeline mode), its
// statements, and its BEGIN and COMMIT. A batch from BEGIN to COMMIT counts
// as transaction time too.
func (w *countingConn) ObserveBatch(queries []string, took time.Duration) {
	if w.c.paused.Load() {
		return
	}
	q := strings.Join(queries, ";\n")
	s := classify(q)
	w.c.ran(s, q, w.inTx)
	w.c.add(&w.c.n.driverNanos, int64(took))
	if s.begins > 0 {
		w.c.add(&w.c.n.txNanos, int64(took))
	}
}

func (w *countingConn) Prepare(query string) (driver.Stmt, error) {
	return w.PrepareContext(context.Background(), query)
}

func (w *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	w.c.add(&w.c.n.prepares, 1)
	w.c.add(&w.c.n.roundTrips, 1)
	defer w.c.since(&w.c.n.driverNanos, time.Now())
	var st driver.Stmt
	var err error
	if p, ok := w.inner.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = w.inner.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &countingStmt{inner: st, conn: w, shape: classify(query), query: query}, nil
}

func (w *countingConn) Close() error { return w.inner.Close() }

func (w *countingConn) Begin() (driver.Tx, error) {
	return w.BeginTx(context.Background(), driver.TxOptions{})
}

func (w *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	w.c.add(&w.c.n.begins, 1)
	w.c.add(&w.c.n.roundTrips, 1)
	start := time.Now()
	defer w.c.since(&w.c.n.driverNanos, start)
	var tx driver.Tx
	var err error
	if b, ok := w.inner.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		if opts.Isolation != 0 || opts.ReadOnly {
			return nil, errors.New("sqlstoretest: the driver takes no transaction options")
		}
		tx, err = w.inner.Begin()
	}
	if err != nil {
		return nil, err
	}
	w.inTx, w.txStart = true, start
	return &countingTx{inner: tx, conn: w}, nil
}

func (w *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := w.inner.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	start := time.Now()
	r, err := e.ExecContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		w.c.since(&w.c.n.driverNanos, start)
		w.c.ran(classify(query), query, w.inTx)
	}
	return r, err
}

func (w *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := w.inner.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	start := time.Now()
	r, err := q.QueryContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		w.c.since(&w.c.n.driverNanos, start)
		w.c.ran(classify(query), query, w.inTx)
	}
	return r, err
}

func (w *countingConn) Ping(ctx context.Context) error {
	if p, ok := w.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (w *countingConn) CheckNamedValue(v *driver.NamedValue) error {
	if c, ok := w.inner.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (w *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := w.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (w *countingConn) IsValid() bool {
	if v, ok := w.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

type countingTx struct {
	inner driver.Tx
	conn  *countingConn
}

func (t *countingTx) Commit() error {
	t.conn.c.add(&t.conn.c.n.commits, 1)
	return t.end(t.inner.Commit)
}

func (t *countingTx) Rollback() error {
	t.conn.c.add(&t.conn.c.n.rollbacks, 1)
	return t.end(t.inner.Rollback)
}

func (t *countingTx) end(f func() error) error {
	c := t.conn.c
	c.add(&c.n.roundTrips, 1)
	start := time.Now()
	err := f()
	c.since(&c.n.driverNanos, start)
	c.since(&c.n.txNanos, t.conn.txStart)
	t.conn.inTx = false
	return err
}

// countingStmt is a prepared statement; its shape was read once, when it
// was prepared.
type countingStmt struct {
	inner driver.Stmt
	conn  *countingConn
	shape shape
	query string
}

var (
	_ driver.StmtExecContext   = (*countingStmt)(nil)
	_ driver.StmtQueryContext  = (*countingStmt)(nil)
	_ driver.NamedValueChecker = (*countingStmt)(nil)
)

func (s *countingStmt) Close() error  { return s.inner.Close() }
func (s *countingStmt) NumInput() int { return s.inner.NumInput() }

func (s *countingStmt) Exec(args []driver.Value) (driver.Result, error) {
	s.conn.c.ran(s.shape, s.query, s.conn.inTx)
	defer s.conn.c.since(&s.conn.c.n.driverNanos, time.Now())
	return s.inner.Exec(args)
}

func (s *countingStmt) Query(args []driver.Value) (driver.Rows, error) {
	s.conn.c.ran(s.shape, s.query, s.conn.inTx)
	defer s.conn.c.since(&s.conn.c.n.driverNanos, time.Now())
	return s.inner.Query(args)
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.inner.(driver.StmtExecContext)
	if !ok {
		vals, err := plainValues(args)
		if err != nil {
			return nil, err
		}
		return s.Exec(vals)
	}
	s.conn.c.ran(s.shape, s.query, s.conn.inTx)
	defer s.conn.c.since(&s.conn.c.n.driverNanos, time.Now())
	return e.ExecContext(ctx, args)
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.inner.(driver.StmtQueryContext)
	if !ok {
		vals, err := plainValues(args)
		if err != nil {
			return nil, err
		}
		return s.Query(vals)
	}
	s.conn.c.ran(s.shape, s.query, s.conn.inTx)
	defer s.conn.c.since(&s.conn.c.n.driverNanos, time.Now())
	return q.QueryContext(ctx, args)
}

func (s *countingStmt) CheckNamedValue(v *driver.NamedValue) error {
	if c, ok := s.inner.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(v)
	}
	return s.conn.CheckNamedValue(v)
}

func plainValues(args []driver.NamedValue) ([]driver.Value, error) {
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("sqlstoretest: the driver takes no named parameters")
		}
		vals[i] = a.Value
	}
	return vals, nil
}

// wireConn counts round trips on a database socket: a read after one or
// more writes is the answer to a request, however many messages the request
// held and however many reads the answer takes.
type wireConn struct {
	net.Conn
	c  *Counter
	mu sync.Mutex // pgx may read on a goroutine of its own while writing
	// wrote: bytes went out since the last read.
	wrote bool
}

func (w *wireConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.wrote = true
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func (w *wireConn) Read(p []byte) (int, error) {
	w.mu.Lock()
	if w.wrote {
		w.wrote = false
		w.c.add(&w.c.n.wireRoundTrips, 1)
	}
	w.mu.Unlock()
	return w.Conn.Read(p)
}
