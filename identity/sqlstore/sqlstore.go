// Package sqlstore keeps puce's state in a SQL database through database/sql:
// SQLite (modernc.org/sqlite, pure Go, no cgo) as the embedded default, and
// PostgreSQL (pgx) when several server instances share one state.
//
// Every change that guards security is one atomic statement: consuming a
// challenge is an UPDATE … WHERE consumed_at IS NULL, moving a one-time-code
// step forward an UPDATE … WHERE counter < new, a throttle change a
// compare-and-swap on a version column. So the guarantees of identity.Store
// hold across processes and machines, not only goroutines.
//
// The schema is created and upgraded by versioned migrations in code, run by
// Open under a lock.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore/internal/sqlhook"
)

// Store implements identity.Store on a SQL database.
type Store struct {
	db    *sql.DB
	d     dialect
	clock identity.Clock
	stmts statements
}

var _ identity.Store = (*Store)(nil)

type dialect struct {
	name      string
	bytesType string
	boolType  string
	// numbered placeholders ($1, $2, …) instead of ?
	numbered       bool
	lockMigrations func(ctx context.Context, tx *sql.Tx) error
}

var (
	sqlite = dialect{name: "sqlite", bytesType: "BLOB", boolType: "INTEGER",
		// The transaction's first statement is a write, which takes SQLite's
		// write lock (the DSN asks for BEGIN IMMEDIATE too).
		lockMigrations: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO puce_schema (version, applied_at) SELECT -1, 0 WHERE 0`)
			return err
		}}
	postgres = dialect{name: "postgres", bytesType: "BYTEA", boolType: "BOOLEAN", numbered: true,
		// A transaction-scoped advisory lock: released on commit or rollback.
		lockMigrations: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7577656365)`) // "puce" in a number
			return err
		}}
)

// rebind turns ? placeholders into $n for PostgreSQL.
func (d dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for bookkeeping (migration times).
func WithClock(c identity.Clock) Option { return func(s *Store) { s.clock = c } }

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
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if !memory {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sqlhook.Open(ctx, "sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open SQLite %s: %w", path, err)
	}
	if memory {
		// Each connection to :memory: is its own database: keep one.
		db.SetMaxOpenConns(1)
	}
	return open(ctx, db, sqlite, opts)
}

// OpenPostgres connects to PostgreSQL (a postgres:// URL or key=value DSN,
// as pgx accepts) and brings the schema up to date.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	db, err := sqlhook.Open(ctx, "pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open PostgreSQL: %w", err)
	}
	return open(ctx, db, postgres, opts)
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

func open(ctx context.Context, db *sql.DB, d dialect, opts []Option) (*Store, error) {
	s := &Store{db: db, d: d}
	for _, o := range opts {
		o(s)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", d.name, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.closeStatements()
	return s.db.Close()
}

// DB returns the underlying database, for health checks and for tests.
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
	err := s.queryRow(ctx, `UPDATE puce_challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL
		RETURNING kind, purpose, subject, origin, payload, state, txn, created_at, expires_at`, micros(now), id[:]).
		Scan(&ch.Kind, &purpose, &ch.Subject, &ch.Origin, &ch.Payload, &ch.State, &ch.Transaction, &created, &expires)
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
