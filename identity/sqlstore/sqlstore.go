// Package sqlstore keeps puce's state in a SQL database through database/sql:
// SQLite (modernc.org/sqlite, pure Go, no cgo) as the embedded default, and
// PostgreSQL (pgx) when several server instances share one state.
//
// Every change that guards security is one atomic statement: consuming a
// challenge is an UPDATE … WHERE consumed_at IS NULL, moving a one-time-code
// step forward an UPDATE … WHERE counter < new, a throttle change a
// compare-and-swap on a version column. So the guarantees of identity.Store
// hold across processes and machines, not only goroutines. A login's
// verification writes those statements together, in one transaction
// (identity.UnitStore, unit.go): on PostgreSQL one round trip to read and one
// to commit, sent in pgx's pipeline mode; on SQLite one BEGIN IMMEDIATE …
// COMMIT.
//
// The audit trail is kept in partitions, each a hash chain whose head row
// only that partition's appends lock, so logins on different instances do
// not queue on one row; with the key of WithAudit every record is sealed
// and checkpoints bind the chains (identity/auditchain states what that
// detects). Give every instance that writes the key: a store without it
// reads a trail that has checkpoints but refuses to append to it
// (ErrNoAuditKey), since its records would read as tampering.
//
// A Store keeps the connections it opens (WithPool: 2 per CPU by default,
// all of them kept between requests), so that a login does not pay for a
// new PostgreSQL backend; on SQLite the writes of one Store queue in Go for
// the file's single write lock instead of polling for it, and the store's
// own goroutine copies the write-ahead log back into the file beside them
// rather than inside a login's commit (writelock.go).
// SQLite commits survive a crash of the process; WithDurableCommits makes
// them survive a power cut too, at an fsync per commit.
//
// The schema is created and upgraded by versioned migrations in code, run by
// Open under a lock. On PostgreSQL the tables go in the first schema of the
// connection's search_path that exists (a search_path parameter in the DSN
// picks one), and several stores can share one database in schemas of
// their own, one per tenant say: their migration and checkpoint locks are
// the schema's, so they do not wait for each other.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	sqlitedrv "modernc.org/sqlite"     // registers "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/sqlstore/internal/numbered"
	"github.com/puce-id/puce/identity/sqlstore/internal/sqlhook"
)

// Store implements identity.Store on a SQL database.
type Store struct {
	db    *sql.DB
	d     dialect
	clock identity.Clock
	stmts statements
	audit identity.AuditConfig
	// auditKeyAsked: WithAudit was given an empty key (warned at Open).
	auditKeyAsked bool
	// heads caches the audit partition heads this handle committed last
	// (SQLite; see auditInTx).
	heads headCache
	// watch is what this handle saw of its trail, checked at its
	// checkpoints (auditwatch.go); stopTicker ends keepCheckpoints, which
	// closes ticking.
	watch      trailWatch
	stopTicker context.CancelFunc
	ticking    chan struct{}
	// keylessOnSealed: opened without a key on a trail with checkpoints;
	// appends are refused (ErrNoAuditKey), logged once (refusedOnce).
	keylessOnSealed bool
	refusedOnce     atomic.Bool
	// countDue asks keepCheckpoints for the checkpoint CheckpointEvery
	// appends call for (nil without timed checkpoints: audited writes it).
	countDue chan struct{}
	// watchChecked, set by tests only, runs in Checkpoint right after the
	// watch's check: where a concurrent writer's change would fall
	// between the statements of a READ COMMITTED transaction.
	watchChecked func()
	// appends counts this handle's audit appends, for its checkpoints.
	appends atomic.Int64
	// seals seals the records with the audit key (nil without one).
	seals *auditchain.RecordKey
	// pool sizes the connection pool (WithPool).
	pool poolSize
	// durable: SQLite commits with synchronous=FULL (WithDurableCommits).
	durable bool
	// writer queues this handle's writes on SQLite (writelock.go).
	writer writeLock
	optErr error
}

var (
	_ identity.Store          = (*Store)(nil)
	_ identity.SessionRevoker = (*Store)(nil)
)

type dialect struct {
	name       string
	bytesType  string
	boolType   string
	serialType string
	// numbered placeholders ($1, $2, …) instead of ?
	numbered       bool
	lockMigrations func(ctx context.Context, tx *sql.Tx) error
}

var (
	sqlite = dialect{name: "sqlite", bytesType: "BLOB", boolType: "INTEGER", serialType: "INTEGER PRIMARY KEY",
		// The transaction's first statement is a write, which takes SQLite's
		// write lock (the DSN asks for BEGIN IMMEDIATE too).
		lockMigrations: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO puce_schema (version, applied_at) SELECT -1, 0 WHERE 0`)
			return err
		}}
	postgres = dialect{name: "postgres", bytesType: "BYTEA", boolType: "BOOLEAN", numbered: true,
		serialType: "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
		lockMigrations: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, schemaLockSQL("pg_advisory_xact_lock", lockMigrate))
			return err
		}}
)

// What PostgreSQL's advisory locks of a store are for: the first key of
// the two-key form, "pucm" and "pucc" in ASCII.
const (
	lockMigrate    int32 = 0x7075636d
	lockCheckpoint int32 = 0x70756363
)

// schemaLockSQL is the statement that calls fn, one of PostgreSQL's
// advisory lock functions of two int4 keys, with what and the OID of the
// schema the store's tables are in (current_schema(), the first schema of
// the search path that exists, which is where unqualified names resolve).
//
// An advisory lock is shared by every session of the database: with one
// constant key, stores of different schemas (one per tenant, or per test)
// queued behind each other's migrations and checkpoints. A schema's OID
// tells them apart, and cannot collide with another's as a hash could.
// The two-key form is also a lock space of its own (the lock tag differs
// from the one-bigint form's), so an application's bigint advisory locks
// never meet these. With no schema at all the key is 0, so the lock is
// still taken: the functions are STRICT, and a NULL key would return
// without locking.
//
// Instances of a release that locked a single bigint take no part in this
// lock: during a rolling upgrade the old and the new ones migrate and
// checkpoint without excluding each other. Neither can corrupt the other's
// work: a migration records its version under a primary key, and so does
// a checkpoint its sequence number, so the second of two concurrent
// writers fails and tries again.
func schemaLockSQL(fn string, what int32) string {
	return fmt.Sprintf(`SELECT %s(%d, COALESCE((SELECT oid::int FROM pg_namespace WHERE nspname = current_schema()), 0))`, fn, what)
}

// rebind turns ? placeholders into $n for PostgreSQL.
func (d dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	return numbered.Rebind(q)
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for bookkeeping: migration times and the
// times of audit checkpoints.
func WithClock(c identity.Clock) Option { return func(s *Store) { s.clock = c } }

// WithPool sizes the connection pool: at most maxOpen connections, all of
// which may stay open between requests. The default is 2 per CPU the Go
// runtime uses, at least 8. A connection that stays idle for 5 minutes is
// closed, so a burst's connections do not stay forever. On PostgreSQL,
// size it so that the instances together stay under the server's
// max_connections (100 unless configured): 4 instances of the default on
// 8 CPUs hold up to 64.
//
// database/sql on its own keeps only 2 idle connections: under more
// concurrent logins than that, every request past the second closed its
// connection after use and the next opened a new one. On PostgreSQL each
// is a new server process (a fork, authentication, cold caches, statements
// prepared again); the load test measured 3x the throughput and a tenth of
// the p99 once connections were kept (BENCHMARKS.md, issue 22).
func WithPool(maxOpen int) Option {
	return func(s *Store) {
		if maxOpen < 1 {
			s.optErr = fmt.Errorf("%w: WithPool: at least one connection", identity.ErrBadInput)
			return
		}
		s.pool = poolSize(maxOpen)
	}
}

// poolSize is the most connections a Store keeps open; zero: the default.
type poolSize int

const poolIdleTime = 5 * time.Minute

func (p poolSize) apply(db *sql.DB, memory bool) {
	n := int(p)
	switch {
	case memory:
		// Each connection to :memory: is its own database: keep one.
		n = 1
	case n == 0:
		n = max(8, 2*runtime.GOMAXPROCS(0))
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(poolIdleTime)
}

// WithDurableCommits makes every SQLite commit reach the disk before it
// returns (synchronous=FULL, an fsync of the write-ahead log per commit).
// The default, synchronous=NORMAL in WAL mode, survives a crash of the
// process but may lose the last commits to a power cut or a crash of the
// machine: logins then vanish from the audit trail, and a one-time code or
// challenge consumed just before counts as unused again (SQLite's
// documentation of PRAGMA synchronous). It costs one fsync per login, about
// 130 µs on the test machine's disk (BENCHMARKS.md). PostgreSQL commits
// durably by default (synchronous_commit = on); there the option changes
// nothing.
func WithDurableCommits() Option { return func(s *Store) { s.durable = true } }

// WithAudit configures the audit trail: its partitions and the key that
// seals its records and checkpoints (see identity.AuditConfig). Give every instance on
// one database the same key; to replace it, deploy the new key to every
// instance and verify with the old one retired, with an overlap as long as
// the deploy ("Rotating the audit key" in package identity).
func WithAudit(c identity.AuditConfig) Option {
	return func(s *Store) {
		if c, err := c.Check(); err != nil {
			s.optErr = err
		} else {
			s.audit, s.auditKeyAsked = c, c.Key == nil
		}
	}
}

func (s *Store) now() time.Time {
	if s.clock == nil {
		return time.Now()
	}
	return s.clock.Now()
}

// OpenSQLite opens (creating it if needed) the SQLite database at path and
// brings its schema up to date. ":memory:" gives a private in-memory database.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("%w: sqlstore: SQLite path must be non-empty and free of '?' and '#'", identity.ErrBadInput)
	}
	memory := path == ":memory:"
	// WAL lets readers run beside the one writer; busy_timeout makes a writer
	// wait for the lock instead of failing; IMMEDIATE transactions take the
	// write lock up front, so a transaction never fails half-way on upgrade.
	// The synchronous level goes in the DSN, so that every connection the
	// pool opens has it: the options are read for it first.
	var probe Store
	for _, o := range opts {
		o(&probe)
	}
	sync := "NORMAL"
	if probe.durable {
		sync = "FULL"
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyWait.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if !memory {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+sync+")")
		// Checkpoints run beside the writes (walCheckpointer); SQLite's own
		// stay only as a bound.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", sqliteAutoCheckpoint))
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sqlhook.Open(ctx, "sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open SQLite %s: %w", path, err)
	}
	if !memory {
		if err := firstConnect(ctx, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlstore: connect to SQLite %s: %w", path, err)
		}
	}
	return open(ctx, db, sqlite, memory, opts)
}

// firstConnect opens the pool's first connection, trying again while
// SQLite answers SQLITE_BUSY. Switching a new file to WAL needs an
// exclusive lock, and when several processes open one new file at once,
// as a deploy of many instances does, a connection that already holds a
// shared lock and finds another one waiting to write gets SQLITE_BUSY at
// once: SQLite does not call the busy handler there, since waiting could
// deadlock (the busy_timeout documentation; file locking, "Locking" in
// sqlite.org/lockingv3.html). Once the file is in WAL mode, which
// persists, the switch is a no-op and later connections never meet it.
// The tries are bounded by the same 10 s as busy_timeout and by ctx.
func firstConnect(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyWait)
	wait := time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || !sqliteBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// sqliteBusyWait is how long a SQLite connection waits for a lock: the
// busy_timeout every connection sets, and the bound of firstConnect.
const sqliteBusyWait = 10 * time.Second

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY (primary result
// code 5, whatever its extended code).
func sqliteBusy(err error) bool {
	var se *sqlitedrv.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// OpenPostgres connects to PostgreSQL (a postgres:// URL or key=value DSN,
// as pgx accepts) and brings the schema up to date.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	db, err := sqlhook.Open(ctx, "pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open PostgreSQL: %w", err)
	}
	return open(ctx, db, postgres, false, opts)
}

// Open chooses the engine from the DSN: postgres:// or postgresql:// for
// PostgreSQL, anything else is a SQLite file path (an optional sqlite: prefix
// is dropped).
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return OpenPostgres(ctx, dsn, opts...)
	default:
		return OpenSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), opts...)
	}
}

func open(ctx context.Context, db *sql.DB, d dialect, memory bool, opts []Option) (*Store, error) {
	s := &Store{db: db, d: d}
	s.audit, _ = identity.AuditConfig{}.Check()
	for _, o := range opts {
		o(s)
	}
	if s.optErr != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: %w", s.optErr)
	}
	if s.audit.Key != nil {
		s.seals = auditchain.NewRecordKey(s.audit.Key)
	}
	s.pool.apply(db, memory)
	if d.name != "postgres" {
		s.writer = newWriteLock()
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", d.name, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.auditPartitions(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if s.audit.Key == nil {
		// Checkpoints are written only with a key: a trail that has one
		// needs its records sealed, and this handle could append none
		// (see ErrNoAuditKey).
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM puce_audit_checkpoints LIMIT 1) c`).Scan(&n); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlstore: open: %w", err)
		}
		s.keylessOnSealed = n > 0
		// WithAudit was called, so a key was meant, and none came: most
		// often a variable the configuration reads is unset. Said at
		// Open, not at the first login.
		switch {
		case s.auditKeyAsked && s.keylessOnSealed:
			slog.WarnContext(ctx, "puce: WithAudit was given an empty key on a sealed audit trail: this store refuses to append, so logins through it fail; give AuditConfig.Key the trail's key", "err", ErrNoAuditKey)
		case s.auditKeyAsked:
			slog.WarnContext(ctx, "puce: WithAudit was given an empty key: this store's audit records are not sealed, and anyone who can write the database can rewrite them undetected; give AuditConfig.Key at least 32 random bytes, kept outside the database")
		}
	}
	if d.name != "postgres" && !memory {
		s.writer.checkpointBeside(db)
	}
	if s.audit.Key != nil && s.audit.CheckpointInterval > 0 {
		// A store starting on a trail whose newest checkpoint is older
		// than an interval (or that has none: a new database, a restart
		// after a stop) writes one now rather than at its first tick, so
		// the trail passes AuditKeys.Fresh from the start.
		// Bounded as a tick is, and by what Close waits: whoever can reach
		// the database can hold the checkpoint lock, and must not stall a
		// server's start.
		start, cancel := context.WithTimeout(ctx, min(max(s.audit.CheckpointInterval, time.Second), closeCheckpointWait))
		if err := s.checkpointIfDue(start, s.audit.CheckpointInterval); err != nil && !errors.Is(err, identity.ErrAuditBroken) {
			slog.WarnContext(ctx, "puce: the audit checkpoint at start failed; the first tick tries again", "err", err)
		}
		cancel()
		var tick context.Context
		tick, s.stopTicker = context.WithCancel(context.Background())
		s.ticking = make(chan struct{})
		s.countDue = make(chan struct{}, 1)
		go s.keepCheckpoints(tick, s.ticking)
	}
	return s, nil
}

// Close stops the store's timed checkpoints and closes the database. With
// an audit key, a handle that appended since its last checkpoint first
// writes one (given at most closeCheckpointWait), checking what it appended
// as every checkpoint does: a graceful stop, such as a deploy, then leaves
// no records behind it that no checkpoint covers and no store watched.
func (s *Store) Close() error {
	if s.stopTicker != nil {
		s.stopTicker()
		<-s.ticking
	}
	if s.audit.Key != nil && s.watch.pending() {
		ctx, cancel := context.WithTimeout(context.Background(), closeCheckpointWait)
		// A change found is logged by Checkpoint itself.
		if err := s.Checkpoint(ctx); err != nil && !errors.Is(err, identity.ErrAuditBroken) {
			slog.Warn("puce: the audit checkpoint at close failed; the newest records wait for another store's", "err", err)
		}
		cancel()
	}
	s.writer.close()
	s.closeStatements()
	return s.db.Close()
}

// closeCheckpointWait bounds Close's last checkpoint: a database that does
// not answer must not hold a server's shutdown for long.
const closeCheckpointWait = 5 * time.Second

// DB returns the underlying database: for health checks, tests, and the
// application's own tables. The store's tables and indexes are all named
// puce_…, and its migrations touch nothing else, so an application may
// keep its tables beside them (on PostgreSQL, in the same schema) and read
// and write them through DB. It must not write the puce_ tables: the audit
// trail reports any change to its own as tampering, and the rest hold the
// replay and throttle state. On SQLite, writes through DB do not queue in
// Go behind the store's (see writeLock) but wait through SQLite's busy
// handler, so keep their transactions short.
func (s *Store) DB() *sql.DB { return s.db }

// Engine names the database engine: "sqlite" or "postgres".
func (s *Store) Engine() string { return s.d.name }

// micros encodes a time; the zero time is 0 ("never").
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

func affected(r sql.Result) (int64, error) {
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: rows affected: %w", err)
	}
	return n, nil
}

func notEnrolled(ref identity.CredentialRef) error {
	return fmt.Errorf("%w: no %s credential %q for %q", identity.ErrNotEnrolled, ref.Kind, ref.ID, ref.Subject)
}

const credentialColumns = `subject, kind, id, name, secret, public, counter, active, created_at, last_used_at, revision`

func scanCredential(row interface{ Scan(...any) error }) (*identity.Credential, error) {
	var c identity.Credential
	var counter, created, used, revision int64
	if err := row.Scan(&c.Subject, &c.Kind, &c.ID, &c.Name, &c.Secret, &c.Public, &counter, &c.Active, &created, &used, &revision); err != nil {
		return nil, err
	}
	c.Counter, c.Revision = uint64(counter), uint64(revision)
	c.CreatedAt, c.LastUsedAt = fromMicros(created), fromMicros(used)
	return &c, nil
}

// CreateCredential implements identity.CredentialStore.
func (s *Store) CreateCredential(ctx context.Context, c *identity.Credential) error {
	if err := identity.ValidateKeys(c.Subject, c.Kind, c.ID); err != nil {
		return fmt.Errorf("sqlstore: create credential: %w", err)
	}
	if err := identity.ValidateText("credential name", c.Name); err != nil {
		return fmt.Errorf("sqlstore: create credential: %w", err)
	}
	if c.Counter > math.MaxInt64 {
		return fmt.Errorf("%w: counter %d does not fit the database", identity.ErrBadInput, c.Counter)
	}
	r, err := s.exec(ctx, `INSERT INTO puce_credentials (`+credentialColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`,
		c.Subject, c.Kind, c.ID, c.Name, c.Secret, c.Public, int64(c.Counter), c.Active, micros(c.CreatedAt), micros(c.LastUsedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: create credential: %w", err)
	}
	if n, err := affected(r); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: %s credential %q", identity.ErrExists, c.Kind, c.ID)
	}
	c.Revision = 1
	return nil
}

// Credential implements identity.CredentialStore.
func (s *Store) Credential(ctx context.Context, ref identity.CredentialRef) (*identity.Credential, error) {
	c, err := scanCredential(s.queryRow(ctx, `SELECT `+credentialColumns+` FROM puce_credentials WHERE kind = ? AND id = ? AND subject = ?`, ref.Kind, ref.ID, ref.Subject))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notEnrolled(ref)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: load credential: %w", err)
	}
	return c, nil
}

// CredentialByID implements identity.CredentialStore.
func (s *Store) CredentialByID(ctx context.Context, kind identity.Kind, id string) (*identity.Credential, error) {
	c, err := scanCredential(s.queryRow(ctx, `SELECT `+credentialColumns+` FROM puce_credentials WHERE kind = ? AND id = ?`, kind, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no %s credential %q", identity.ErrNotEnrolled, kind, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: load credential: %w", err)
	}
	return c, nil
}

// Credentials implements identity.CredentialStore.
func (s *Store) Credentials(ctx context.Context, subject identity.Subject, kind identity.Kind) ([]identity.Credential, error) {
	q := `SELECT ` + credentialColumns + ` FROM puce_credentials WHERE subject = ?`
	args := []any{subject}
	if kind != "" {
		q += ` AND kind = ?`
		args = append(args, kind)
	}
	rows, err := s.query(ctx, q+` ORDER BY created_at, kind, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list credentials: %w", err)
	}
	defer rows.Close()
	var out []identity.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list credentials: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list credentials: %w", err)
	}
	return out, nil
}

// UpdateCredential implements identity.CredentialStore.
func (s *Store) UpdateCredential(ctx context.Context, c *identity.Credential) error {
	if c.Revision >= math.MaxInt64 {
		return fmt.Errorf("%w: revision %d does not fit the database", identity.ErrBadInput, c.Revision)
	}
	if err := identity.ValidateText("credential name", c.Name); err != nil {
		return fmt.Errorf("sqlstore: update credential: %w", err)
	}
	r, err := s.exec(ctx, `UPDATE puce_credentials SET name = ?, secret = ?, public = ?, active = ?, last_used_at = ?, revision = revision + 1
		WHERE kind = ? AND id = ? AND subject = ? AND revision = ?`,
		c.Name, c.Secret, c.Public, c.Active, micros(c.LastUsedAt), c.Kind, c.ID, c.Subject, int64(c.Revision))
	if err != nil {
		return fmt.Errorf("sqlstore: update credential: %w", err)
	}
	if n, err := affected(r); err != nil {
		return err
	} else if n == 1 {
		c.Revision++
		return nil
	}
	// Nothing changed: say why (the decision was made atomically above).
	var cur int64
	err = s.queryRow(ctx, `SELECT revision FROM puce_credentials WHERE kind = ? AND id = ? AND subject = ?`, c.Kind, c.ID, c.Subject).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return notEnrolled(c.Ref())
	}
	if err != nil {
		return fmt.Errorf("sqlstore: update credential: %w", err)
	}
	return fmt.Errorf("%w: %s credential %q is at revision %d, the update was built on %d", identity.ErrChanged, c.Kind, c.ID, cur, c.Revision)
}

// AdvanceCounter implements identity.CredentialStore in one conditional
// UPDATE: the database, not the caller, decides who moves the counter.
func (s *Store) AdvanceCounter(ctx context.Context, ref identity.CredentialRef, n uint64, at time.Time) error {
	if n > math.MaxInt64 {
		return fmt.Errorf("%w: counter %d does not fit the database", identity.ErrBadInput, n)
	}
	r, err := s.exec(ctx, `UPDATE puce_credentials SET counter = ?, last_used_at = ? WHERE kind = ? AND id = ? AND subject = ? AND counter < ?`,
		int64(n), micros(at), ref.Kind, ref.ID, ref.Subject, int64(n))
	if err != nil {
		return fmt.Errorf("sqlstore: advance counter: %w", err)
	}
	if k, err := affected(r); err != nil {
		return err
	} else if k == 1 {
		return nil
	}
	// Nothing changed: say why. The answer is only for the error message; the
	// decision was made atomically above.
	var cur int64
	err = s.queryRow(ctx, `SELECT counter FROM puce_credentials WHERE kind = ? AND id = ? AND subject = ?`, ref.Kind, ref.ID, ref.Subject).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return notEnrolled(ref)
	}
	return fmt.Errorf("%w: counter already at %d", identity.ErrReplayed, cur)
}

// DeleteCredential implements identity.CredentialStore.
func (s *Store) DeleteCredential(ctx context.Context, ref identity.CredentialRef) error {
	r, err := s.exec(ctx, `DELETE FROM puce_credentials WHERE kind = ? AND id = ? AND subject = ?`, ref.Kind, ref.ID, ref.Subject)
	if err != nil {
		return fmt.Errorf("sqlstore: delete credential: %w", err)
	}
	if n, err := affected(r); err != nil {
		return err
	} else if n == 0 {
		return notEnrolled(ref)
	}
	return nil
}

// PutChallenge implements identity.ChallengeStore.
func (s *Store) PutChallenge(ctx context.Context, ch *identity.Challenge) error {
	if err := identity.ValidateKeys(ch.Subject, ch.Kind, ""); err != nil {
		return fmt.Errorf("sqlstore: store challenge: %w", err)
	}
	if err := identity.ValidateText("challenge origin", ch.Origin); err != nil {
		return fmt.Errorf("sqlstore: store challenge: %w", err)
	}
	r, err := s.exec(ctx, `INSERT INTO puce_challenges (id, kind, purpose, subject, origin, payload, state, txn, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		ch.ID[:], ch.Kind, int(ch.Purpose), ch.Subject, ch.Origin, ch.Payload, ch.State, ch.Transaction, micros(ch.CreatedAt), micros(ch.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: store challenge: %w", err)
	}
	if n, err := affected(r); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: challenge %s", identity.ErrExists, ch.ID)
	}
	return nil
}

// ConsumeChallenge implements identity.ChallengeStore: one UPDATE marks the
// challenge used and returns it, so of many concurrent callers on any number
// of connections exactly one gets a row.
func (s *Store) ConsumeChallenge(ctx context.Context, id identity.ChallengeID, now time.Time) (*identity.Challenge, error) {
	ch := identity.Challenge{ID: id}
	var purpose int
	var created, expires int64
	err := func() error {
		unlock, err := s.writer.lock(ctx)
		if err != nil {
			return err
		}
		// Deferred: a panic in the statement (the driver's), recovered by
		// the caller as an HTTP server does, must not leave the lock taken
		// and every later write of the handle waiting (TestPanicReleasesWriteLock).
		defer unlock()
		return s.queryRow(ctx, `UPDATE puce_challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL
		RETURNING kind, purpose, subject, origin, payload, state, txn, created_at, expires_at`, micros(now), id[:]).
			Scan(&ch.Kind, &purpose, &ch.Subject, &ch.Origin, &ch.Payload, &ch.State, &ch.Transaction, &created, &expires)
	}()
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		err := s.queryRow(ctx, `SELECT 1 FROM puce_challenges WHERE id = ?`, id[:]).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, identity.ErrUnknownChallenge
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: consume challenge: %w", err)
		}
		return nil, fmt.Errorf("%w: challenge already used", identity.ErrReplayed)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: consume challenge: %w", err)
	}
	ch.Purpose = identity.Purpose(purpose)
	ch.CreatedAt, ch.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &ch, nil
}

// PurgeChallenges implements identity.ChallengeStore.
func (s *Store) PurgeChallenges(ctx context.Context, before time.Time) (int64, error) {
	r, err := s.exec(ctx, `DELETE FROM puce_challenges WHERE expires_at < ?`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: purge challenges: %w", err)
	}
	return affected(r)
}

// LoadThrottle implements identity.ThrottleStore.
func (s *Store) LoadThrottle(ctx context.Context, key identity.ThrottleKey) (identity.ThrottleState, error) {
	var st identity.ThrottleState
	var nb int64
	err := s.queryRow(ctx, `SELECT failures, not_before, version FROM puce_throttle WHERE key = ?`, key.String()).Scan(&st.Failures, &nb, &st.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return identity.ThrottleState{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("sqlstore: load throttle: %w", err)
	}
	st.NotBefore = fromMicros(nb)
	return st, nil
}

// SwapThrottle implements identity.ThrottleStore as a compare-and-swap on
// the version column.
func (s *Store) SwapThrottle(ctx context.Context, key identity.ThrottleKey, prev, next identity.ThrottleState) (bool, error) {
	if err := identity.ValidateKeys(key.Subject, key.Kind, ""); err != nil {
		return false, fmt.Errorf("sqlstore: swap throttle: %w", err)
	}
	var r sql.Result
	var err error
	if prev.Version == 0 {
		r, err = s.exec(ctx, `INSERT INTO puce_throttle (key, failures, not_before, version) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			key.String(), next.Failures, micros(next.NotBefore), next.Version)
	} else {
		r, err = s.exec(ctx, `UPDATE puce_throttle SET failures = ?, not_before = ?, version = ? WHERE key = ? AND version = ?`,
			next.Failures, micros(next.NotBefore), next.Version, key.String(), prev.Version)
	}
	if err != nil {
		return false, fmt.Errorf("sqlstore: swap throttle: %w", err)
	}
	n, err := affected(r)
	return n == 1, err
}

// ResetThrottle implements identity.ThrottleStore.
func (s *Store) ResetThrottle(ctx context.Context, key identity.ThrottleKey) error {
	if _, err := s.exec(ctx, `DELETE FROM puce_throttle WHERE key = ?`, key.String()); err != nil {
		return fmt.Errorf("sqlstore: reset throttle: %w", err)
	}
	return nil
}
