package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
)

// auditPartitions makes sure every partition has its head row, at its
// genesis: the append statements update a row, they never create one.
func (s *Store) auditPartitions(ctx context.Context) error {
	tx, end, err := s.beginWrite(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: audit partitions: %w", err)
	}
	defer end()
	var legacy []byte
	if err := tx.QueryRowContext(ctx, `SELECT hash FROM puce_audit_head WHERE id = 1`).Scan(&legacy); err != nil {
		return fmt.Errorf("sqlstore: audit partitions: read the legacy head: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM puce_audit_parts WHERE part < `+fmt.Sprint(s.audit.Partitions)).Scan(&have); err != nil {
		return fmt.Errorf("sqlstore: audit partitions: %w", err)
	}
	if have == s.audit.Partitions {
		return nil
	}
	for p := range s.audit.Partitions {
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO puce_audit_parts (part, seq, prev, hash) VALUES (?, 0, ?, ?) ON CONFLICT DO NOTHING`),
			p, auditchain.Zero(), auditchain.Genesis(p, legacy)); err != nil {
			return fmt.Errorf("sqlstore: audit partitions: %w", err)
		}
	}
	return tx.Commit()
}

// auditAppendPG appends one event in one statement: PostgreSQL moves the
// partition's head and computes the record's hash from the previous one it
// holds (auditchain.Hash, split as the package describes), so the head row
// is locked for that one statement only. The LEFT JOIN turns a missing head
// row into a NULL seq, which the NOT NULL constraint refuses: an event is
// never silently dropped.
const auditAppendPG = `WITH h AS (
	UPDATE puce_audit_parts SET seq = seq + 1, prev = hash, hash = sha256(?::bytea || hash || int8send(seq + 1) || ?::bytea)
	WHERE part = ? RETURNING seq, prev, hash)
INSERT INTO puce_audit_log (part, seq, time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash, nonce, mac)
SELECT ?, h.seq, ?, ?, ?, ?, ?, ?, ?, ?, h.prev, h.hash, ?::bytea, ?::bytea FROM (SELECT 1) AS one LEFT JOIN h ON true
RETURNING part, seq, hash`

// stored is t as the database gives it back (micros, fromMicros): what
// a record's hash and a checkpoint's MAC must cover. Truncating to the
// microsecond alone is not that: the Unix epoch is stored as 0, which
// reads back as the zero time, and an honest record dated then would
// verify as altered.
func stored(t time.Time) time.Time { return fromMicros(micros(t)) }

// auditArgs are auditAppendPG's arguments for e: the hash's input before
// and after the previous hash and the sequence number, which PostgreSQL
// holds, then the row. The seal is made here, in Go: the key never reaches
// the database.
func (s *Store) auditArgs(e *identity.Event) []any {
	p := auditchain.Partition(e.Subject, s.audit.Partitions)
	nonce, mac := s.seal(p, e)
	var prefix, body []byte
	if mac == nil {
		prefix, body = auditchain.AppendPrefixV2(nil, p), auditchain.AppendEventBytes(nil, *e)
	} else {
		prefix, body = auditchain.AppendPrefixV3(nil, p), auditchain.AppendSealedBytes(nil, *e, nonce, mac)
	}
	return []any{prefix, body, p,
		p, micros(e.Time), e.Subject, e.Kind, e.CredentialID, e.Action, e.Result, e.RemoteAddr, e.Reason, nonce, mac}
}

// seal seals a record of e in partition p, when the store has an audit key.
func (s *Store) seal(p int, e *identity.Event) (nonce, mac []byte) {
	if s.seals == nil {
		return nil, nil
	}
	return s.seals.Seal(p, *e)
}

// recordHash is the hash of a record of e, sealed with nonce and mac or
// not (mac nil), at seq after prev in partition p.
func recordHash(p int, prev []byte, seq int64, e identity.Event, nonce, mac []byte) []byte {
	if mac == nil {
		return auditchain.Hash(p, prev, seq, e)
	}
	return auditchain.AppendSealedHash(nil, p, prev, seq, e, nonce, mac)
}

// auditInTx appends e inside tx. On SQLite the transaction holds the write
// lock already, so the head is read and the hash computed here; the heads
// it moved are returned, for s.heads once the transaction has committed.
func (s *Store) auditInTx(ctx context.Context, tx *sql.Tx, e identity.Event) ([]auditchain.Head, error) {
	e.Time = stored(e.Time)
	if s.d.name == "postgres" {
		var h auditchain.Head
		if err := s.txQueryRow(ctx, tx, auditAppendPG, s.auditArgs(&e)...).Scan(&h.Partition, &h.Seq, &h.Hash); err != nil {
			return nil, fmt.Errorf("sqlstore: audit: %w", err)
		}
		return []auditchain.Head{h}, nil
	}
	p := auditchain.Partition(e.Subject, s.audit.Partitions)
	nonce, mac := s.seal(p, &e)
	// The head this handle last wrote to p, if the commit is still the last
	// one: one conditional UPDATE then moves the head, where reading it
	// first takes one statement more. The condition is the whole head (seq
	// and hash), so a record is never chained to a head that is not the
	// stored one; when another handle or process appended meanwhile, the
	// head is read under the write lock the transaction holds.
	var seq int64
	var prev, hash []byte
	moved := false
	if h, ok := s.heads.get(p); ok {
		seq, prev = h.Seq+1, h.Hash
		hash = recordHash(p, prev, seq, e, nonce, mac)
		r, err := s.txExec(ctx, tx, `UPDATE puce_audit_parts SET seq = ?, prev = ?, hash = ? WHERE part = ? AND seq = ? AND hash = ?`, seq, prev, hash, p, h.Seq, h.Hash)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: audit: update head: %w", err)
		}
		n, err := affected(r)
		if err != nil {
			return nil, err
		}
		moved = n == 1
	}
	if !moved {
		if err := s.txQueryRow(ctx, tx, `SELECT seq, hash FROM puce_audit_parts WHERE part = ?`, p).Scan(&seq, &prev); err != nil {
			return nil, fmt.Errorf("sqlstore: audit: read partition %d: %w", p, err)
		}
		seq++
		hash = recordHash(p, prev, seq, e, nonce, mac)
		if _, err := s.txExec(ctx, tx, `UPDATE puce_audit_parts SET seq = ?, prev = ?, hash = ? WHERE part = ?`, seq, prev, hash, p); err != nil {
			return nil, fmt.Errorf("sqlstore: audit: update head: %w", err)
		}
	}
	if _, err := s.txExec(ctx, tx, `INSERT INTO puce_audit_log (part, seq, time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash, nonce, mac)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p, seq, micros(e.Time), e.Subject, e.Kind, e.CredentialID, e.Action, e.Result, e.RemoteAddr, e.Reason, prev, hash, nonce, mac); err != nil {
		return nil, fmt.Errorf("sqlstore: audit: insert: %w", err)
	}
	return []auditchain.Head{{Partition: p, Seq: seq, Hash: hash}}, nil
}

// headCache is what a SQLite handle knows of the partition heads it wrote
// last: a hint, checked by the statement that uses it (auditInTx), and
// only ever set from committed transactions.
type headCache struct {
	mu sync.Mutex
	m  map[int]auditchain.Head
}

func (c *headCache) get(p int) (auditchain.Head, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[p]
	return h, ok
}

// committed records heads a transaction has just committed.
func (c *headCache) committed(heads []auditchain.Head) {
	if len(heads) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int]auditchain.Head{}
	}
	for _, h := range heads {
		c.m[h.Partition] = h
	}
}

// Audit implements identity.Auditor: one statement on PostgreSQL, one
// transaction on SQLite, touching the head of one partition only.
func (s *Store) Audit(ctx context.Context, e identity.Event) error {
	if err := identity.ValidateEvent(&e); err != nil {
		return fmt.Errorf("sqlstore: audit: %w", err)
	}
	if err := s.canAppend(ctx); err != nil {
		return fmt.Errorf("sqlstore: audit: %w", err)
	}
	if s.d.name == "postgres" {
		e.Time = stored(e.Time)
		var h auditchain.Head
		if err := s.queryRow(ctx, auditAppendPG, s.auditArgs(&e)...).Scan(&h.Partition, &h.Seq, &h.Hash); err != nil {
			return fmt.Errorf("sqlstore: audit: %w", err)
		}
		s.watch.appended(s.now(), []auditchain.Head{h})
	} else if err := s.auditSQLite(ctx, e); err != nil {
		return err
	}
	s.audited(ctx, 1)
	return nil
}

// auditSQLite is Audit's transaction on SQLite; it ends before Audit's
// checkpoint, which writes again.
func (s *Store) auditSQLite(ctx context.Context, e identity.Event) error {
	tx, end, err := s.beginWrite(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: audit: %w", err)
	}
	defer end()
	heads, err := s.auditInTx(ctx, tx, e)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: audit: commit: %w", err)
	}
	s.heads.committed(heads)
	s.watch.appended(s.now(), heads)
	return nil
}

// ErrNoAuditKey is returned, and nothing written, when a store opened
// without an audit key is asked to append to a trail that has checkpoints.
// Only a store with the key writes checkpoints, and from a trail's first
// one on VerifyAudit requires every record to carry the key's seal: a
// record appended without one would read as tampering (a server started
// without its -audit-key, or a tool that writes to the login database).
// Give the store the key (WithAudit). A store without the key still opens
// such a database and reads it, as a verifier does.
//
// A store opened before the trail's first checkpoint is not stopped by
// this: introduce the key to every instance in one restart (see
// identity.AuditConfig.Key).
var ErrNoAuditKey = errors.New("sqlstore: this audit trail is sealed (it has checkpoints) and the store has no audit key")

func (s *Store) canAppend(ctx context.Context) error {
	if !s.keylessOnSealed {
		return nil
	}
	if !s.refusedOnce.Swap(true) {
		slog.ErrorContext(ctx, "puce: this store was opened without the audit key on a sealed audit trail: it refuses to append, so logins through it fail; give it the key", "err", ErrNoAuditKey)
	}
	return ErrNoAuditKey
}

// audited counts n appends and has a checkpoint written when they reach
// the interval. A checkpoint that fails is logged, not returned: the
// events are in the trail, and the next checkpoint covers them.
//
// With timed checkpoints the store's own goroutine writes it
// (keepCheckpoints), beside the logins rather than in one of them: a
// checkpoint is several statements under a lock every instance takes, so
// inline it made one login in CheckpointEvery wait for them, and for as
// long as anyone held that lock (on PostgreSQL, whoever can reach the
// database can). Signals coalesce: a checkpoint covers every record
// committed before it reads the heads. Without timed checkpoints
// (CheckpointInterval negative) the append that reaches the count writes
// it, which keeps the trail's checkpoints where a caller placed them.
func (s *Store) audited(ctx context.Context, n int64) {
	if s.audit.Key == nil {
		return
	}
	// Bounded by what the watch holds: beyond maxWatched it would forget
	// this handle's oldest unchecked records in honest operation (a large
	// CheckpointEvery at a high rate), and no check would see them.
	every := min(int64(s.audit.CheckpointEvery), maxWatched/2)
	if after := s.appends.Add(n); after/every == (after-n)/every {
		return
	}
	if s.countDue != nil {
		select {
		case s.countDue <- struct{}{}:
		default: // one is already asked for, and not begun
		}
		return
	}
	if err := s.Checkpoint(ctx); err != nil {
		slog.WarnContext(ctx, "puce: audit checkpoint failed; the next one will cover these events", "err", err)
	}
}

// Checkpoint seals the heads of every partition, and of the legacy chain,
// with the audit key (see identity.AuditConfig); the store also does so
// every CheckpointEvery appends of this handle. Instances checkpoint one at
// a time, and a checkpoint is not dated before the one it follows,
// whichever instance's clock dated that, unless that one is dated more
// than auditchain.MaxCheckpointLead ahead of this clock: VerifyAudit
// compares the times of checkpoints under different keys during a key
// rotation (see identity/auditchain). Without a key it does nothing.
//
// Before it writes, it checks that the records this handle appended since
// its last checkpoint, and that checkpoint, are still in the database as
// it wrote them. If not, it appends a sealed record saying what changed
// (auditchain.ActionTrailChanged), which this checkpoint covers and which
// VerifyAudit reports from then on, logs it, and returns
// identity.ErrAuditBroken once the checkpoint is written.
func (s *Store) Checkpoint(ctx context.Context) (err error) {
	if s.audit.Key == nil {
		return nil
	}
	// A change found is said whatever becomes of this checkpoint: whoever
	// writes the database can make the rest of it fail (a head row
	// deleted), and a context can end or the handle close before it
	// commits. The watch keeps what it saw, so the next checkpoint that
	// succeeds records it; meanwhile the log and the caller know.
	var change string
	recorded := false
	defer func() {
		if change != "" && !recorded {
			slog.ErrorContext(context.WithoutCancel(ctx), "puce: the audit trail was changed behind this store; recording it in the trail failed, the next checkpoint tries again",
				"found", change, "err", err)
			err = fmt.Errorf("sqlstore: checkpoint: %w: %s (not recorded yet: %w)", identity.ErrAuditBroken, change, err)
		}
	}()
	saw := s.watch.snapshot()
	tx, end, err := s.beginWrite(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: checkpoint: %w", err)
	}
	defer end()
	if s.d.name == "postgres" {
		// Checkpoints form a chain: one writer at a time.
		if _, err := tx.ExecContext(ctx, schemaLockSQL("pg_advisory_xact_lock", lockCheckpoint)); err != nil {
			return fmt.Errorf("sqlstore: checkpoint: lock: %w", err)
		}
	} else if err := s.d.lockMigrations(ctx, tx); err != nil {
		return fmt.Errorf("sqlstore: checkpoint: lock: %w", err)
	}
	// Held until the commit: tickets follow the order checkpoints commit.
	ticket := s.watch.ticket()
	c := auditchain.Checkpoint{Seq: 1, Time: stored(s.now()), Prev: auditchain.Zero(),
		Legacy: auditchain.Head{Partition: auditchain.LegacyPartition}}
	var last, lastTime int64
	var lastMAC []byte
	err = tx.QueryRowContext(ctx, `SELECT seq, time, mac FROM puce_audit_checkpoints ORDER BY seq DESC LIMIT 1`).Scan(&last, &lastTime, &lastMAC)
	switch {
	case err == nil:
		c.Seq, c.Prev = last+1, lastMAC
		// The last date is whatever the database holds: followed only
		// within auditchain.MaxCheckpointLead, or whoever writes the
		// database would date this checkpoint as they please (see
		// auditchain.CheckpointTime).
		var ahead bool
		if c.Time, ahead = auditchain.CheckpointTime(c.Time, fromMicros(lastTime)); ahead {
			slog.WarnContext(ctx, "puce: the last audit checkpoint is dated too far ahead of this clock to follow; a clock is wrong, or the database was changed",
				"checkpoint", last, "dated", fromMicros(lastTime), "now", c.Time, "max_lead", auditchain.MaxCheckpointLead)
		}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: checkpoint: %w", err)
	}
	// One statement, one snapshot: each head read is committed, and so is
	// its record (they commit together). Read before the watch's check:
	// on PostgreSQL each statement of this transaction sees what is
	// committed when it starts, and heads read after the check would seal
	// a change committed in between as genuine, while the watch forgot
	// the records it changed as checked. Read before, a change committed
	// before the check is found by it, and one after contradicts the
	// heads sealed here (TestAuditWatchBetweenStatements).
	if c.Heads, err = readHeads(ctx, tx); err != nil {
		return fmt.Errorf("sqlstore: checkpoint: %w", err)
	}
	// What this handle saw, against what the database holds: a change is
	// recorded in the trail, sealed, before the checkpoint covers it, so
	// that no later checkpoint makes it look genuine (see trailWatch).
	change, err = s.changed(ctx, tx, saw)
	if err != nil {
		return fmt.Errorf("sqlstore: checkpoint: %w", err)
	}
	if s.watchChecked != nil {
		s.watchChecked()
	}
	var alarm []auditchain.Head
	if change != "" {
		e := identity.Event{Time: s.now(), Action: auditchain.ActionTrailChanged, Result: identity.Failure, Reason: change}
		if alarm, err = s.auditInTx(ctx, tx, e); err != nil {
			return fmt.Errorf("sqlstore: checkpoint: %w", err)
		}
		// The checkpoint covers the alarm: its partition's head is the
		// alarm's (what others appended there before it is committed).
		c.Heads = coverHead(c.Heads, alarm[0])
	}
	// After the check, so that a head row deleted cannot stop the check
	// from running (a failure after it still reports what it found). The
	// legacy chain is closed: every checkpoint since the first binds its
	// head, so no change to it in between would pass.
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM puce_audit_head WHERE id = 1`).Scan(&c.Legacy.Seq, &c.Legacy.Hash); err != nil {
		return fmt.Errorf("sqlstore: checkpoint: legacy head: %w", err)
	}
	c.Seal(s.audit.Key)
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO puce_audit_checkpoints (seq, time, legacy_seq, legacy_hash, heads, prev, mac) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		c.Seq, micros(c.Time), c.Legacy.Seq, c.Legacy.Hash, auditchain.EncodeHeads(c.Heads), c.Prev, c.MAC); err != nil {
		return fmt.Errorf("sqlstore: checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: checkpoint: commit: %w", err)
	}
	recorded = true
	s.heads.committed(alarm)
	s.watch.checked(saw, ticket, c.Seq, c.MAC)
	if change != "" {
		slog.ErrorContext(ctx, "puce: the audit trail was changed behind this store; the change is recorded in the trail, and VerifyAudit reports it",
			"found", change, "checkpoint", c.Seq)
		return fmt.Errorf("sqlstore: checkpoint: %w: %s", identity.ErrAuditBroken, change)
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// reader is a *sql.Tx or a *sql.Conn inside a transaction of its own.
type reader interface {
	querier
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// beginSnapshot begins a read-only transaction that sees one consistent
// state of the database while writers go on. On PostgreSQL that is
// REPEATABLE READ. On SQLite every transaction database/sql begins is
// BEGIN IMMEDIATE (the DSN's _txlock), which takes the write lock: a long
// verification would stop every login of every process sharing the file,
// and wait behind them to start. A plain BEGIN on a connection of its own
// is a read transaction instead: in WAL mode it reads the snapshot of its
// first statement and neither waits for writers nor holds them up (SQLite,
// "Write-Ahead Logging", Concurrency).
func (s *Store) beginSnapshot(ctx context.Context) (r reader, end func(), err error) {
	if s.d.name == "postgres" {
		tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
		if err != nil {
			return nil, nil, err
		}
		return tx, func() { tx.Rollback() }, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, func() {
		// A connection left inside the transaction must not go back to
		// the pool: Raw's error marks it bad, and database/sql drops it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(rctx, `ROLLBACK`); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

// coverHead returns heads with h's partition at h.
func coverHead(heads []auditchain.Head, h auditchain.Head) []auditchain.Head {
	for i := range heads {
		if heads[i].Partition == h.Partition {
			heads[i] = h
			return heads
		}
	}
	heads = append(heads, h)
	slices.SortFunc(heads, func(a, b auditchain.Head) int { return a.Partition - b.Partition })
	return heads
}

func readHeads(ctx context.Context, q querier) ([]auditchain.Head, error) {
	rows, err := q.QueryContext(ctx, `SELECT part, seq, hash FROM puce_audit_parts ORDER BY part`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var heads []auditchain.Head
	for rows.Next() {
		var h auditchain.Head
		if err := rows.Scan(&h.Partition, &h.Seq, &h.Hash); err != nil {
			return nil, err
		}
		heads = append(heads, h)
	}
	return heads, rows.Err()
}

const (
	auditColumns  = `part, seq, time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash, nonce, mac`
	legacyColumns = `-1, seq, time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash, NULL, NULL`
)

func scanAudit(rows *sql.Rows) (identity.AuditRecord, error) {
	var r identity.AuditRecord
	var t int64
	err := rows.Scan(&r.Partition, &r.Seq, &t, &r.Event.Subject, &r.Event.Kind, &r.Event.CredentialID, &r.Event.Action,
		&r.Event.Result, &r.Event.RemoteAddr, &r.Event.Reason, &r.Prev, &r.Hash, &r.Nonce, &r.MAC)
	r.Event.Time = fromMicros(t)
	return r, err
}

// AuditEvents implements identity.AuditLog: the partitioned records in the
// order they were appended, then the legacy chain's.
func (s *Store) AuditEvents(ctx context.Context, subject identity.Subject, limit int) ([]identity.AuditRecord, error) {
	var out []identity.AuditRecord
	for _, src := range []struct{ cols, table, order string }{
		{auditColumns, "puce_audit_log", "id"}, {legacyColumns, "puce_audit", "seq"},
	} {
		q := `SELECT ` + src.cols + ` FROM ` + src.table
		var args []any
		if subject != "" {
			q += ` WHERE subject = ?`
			args = append(args, subject)
		}
		q += ` ORDER BY ` + src.order + ` DESC`
		if limit > 0 {
			if len(out) >= limit {
				break
			}
			q += ` LIMIT ?`
			args = append(args, limit-len(out))
		}
		rows, err := s.query(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: audit events: %w", err)
		}
		for rows.Next() {
			r, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlstore: audit events: %w", err)
			}
			out = append(out, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlstore: audit events: %w", err)
		}
	}
	return out, nil
}

// VerifyAudit implements identity.AuditLog. It streams the whole trail in
// one read transaction, so it checks a consistent snapshot while writers go
// on: the legacy chain, the checkpoints, every partition, and their heads.
func (s *Store) VerifyAudit(ctx context.Context, keys identity.AuditKeys) ([]byte, error) {
	v, err := auditchain.NewVerifier(keys)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: verify audit: %w", err)
	}
	tx, end, err := s.beginSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: verify audit: %w", err)
	}
	defer end()
	each := func(q string, f func(*sql.Rows) error) error {
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlstore: verify audit: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := f(rows); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: verify audit: %w", err)
		}
		return nil
	}
	record := func(add func(identity.AuditRecord) error) func(*sql.Rows) error {
		return func(rows *sql.Rows) error {
			r, err := scanAudit(rows)
			if err != nil {
				return fmt.Errorf("sqlstore: verify audit: %w", err)
			}
			return add(r)
		}
	}
	if err := each(`SELECT `+legacyColumns+` FROM puce_audit ORDER BY seq`, record(v.Legacy)); err != nil {
		return nil, err
	}
	legacy := auditchain.Head{Partition: auditchain.LegacyPartition}
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM puce_audit_head WHERE id = 1`).Scan(&legacy.Seq, &legacy.Hash); err != nil {
		return nil, fmt.Errorf("sqlstore: verify audit: read the legacy head: %w", err)
	}
	if err := v.EndLegacy(legacy); err != nil {
		return nil, err
	}
	err = each(`SELECT seq, time, legacy_seq, legacy_hash, heads, prev, mac FROM puce_audit_checkpoints ORDER BY seq`, func(rows *sql.Rows) error {
		c := auditchain.Checkpoint{Legacy: auditchain.Head{Partition: auditchain.LegacyPartition}}
		var t int64
		var heads []byte
		if err := rows.Scan(&c.Seq, &t, &c.Legacy.Seq, &c.Legacy.Hash, &heads, &c.Prev, &c.MAC); err != nil {
			return fmt.Errorf("sqlstore: verify audit: %w", err)
		}
		c.Time = fromMicros(t)
		if c.Heads, err = auditchain.DecodeHeads(heads); err != nil {
			return err
		}
		return v.Checkpoint(c)
	})
	if err != nil {
		return nil, err
	}
	if err := each(`SELECT `+auditColumns+` FROM puce_audit_log ORDER BY part, seq`, record(v.Record)); err != nil {
		return nil, err
	}
	heads, err := readHeads(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: verify audit: %w", err)
	}
	return v.Finish(heads)
}
