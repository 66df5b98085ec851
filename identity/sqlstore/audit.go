package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/puce-id/puce/identity"
)

// Audit implements identity.Auditor. The append is one transaction whose
// first statement bumps the head row: that statement takes the row lock
// (PostgreSQL) or the write lock (SQLite), so concurrent writers on any
// number of connections line up and the chain never forks.
func (s *Store) Audit(ctx context.Context, e identity.Event) error {
	e.Time = time.UnixMicro(e.Time.UnixMicro()).UTC()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: audit: %w", err)
	}
	defer tx.Rollback()
	var seq int64
	var prev []byte
	if err := s.txQueryRow(ctx, tx, `UPDATE puce_audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`).Scan(&seq, &prev); err != nil {
		return fmt.Errorf("sqlstore: audit: advance head: %w", err)
	}
	hash := identity.ChainHash(prev, seq, e)
	if _, err := s.txExec(ctx, tx, `INSERT INTO puce_audit (seq, time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		seq, micros(e.Time), e.Subject, e.Kind, e.CredentialID, e.Action, e.Result, e.RemoteAddr, e.Reason, prev, hash); err != nil {
		return fmt.Errorf("sqlstore: audit: insert: %w", err)
	}
	if _, err := s.txExec(ctx, tx, `UPDATE puce_audit_head SET hash = ? WHERE id = 1`, hash); err != nil {
		return fmt.Errorf("sqlstore: audit: update head: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: audit: commit: %w", err)
	}
	return nil
}

const auditColumns = `seq, time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash`

func scanAudit(rows *sql.Rows) (identity.AuditRecord, error) {
	var r identity.AuditRecord
	var t int64
	err := rows.Scan(&r.Seq, &t, &r.Event.Subject, &r.Event.Kind, &r.Event.CredentialID, &r.Event.Action,
		&r.Event.Result, &r.Event.RemoteAddr, &r.Event.Reason, &r.Prev, &r.Hash)
	r.Event.Time = fromMicros(t)
	return r, err
}

// AuditEvents implements identity.AuditLog.
func (s *Store) AuditEvents(ctx context.Context, subject identity.Subject, limit int) ([]identity.AuditRecord, error) {
	q := `SELECT ` + auditColumns + ` FROM puce_audit`
	var args []any
	if subject != "" {
		q += ` WHERE subject = ?`
		args = append(args, subject)
	}
	q += ` ORDER BY seq DESC`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: audit events: %w", err)
	}
	defer rows.Close()
	var out []identity.AuditRecord
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: audit events: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// VerifyAudit implements identity.AuditLog. It streams the whole table in
// one read transaction, so it checks a consistent snapshot while writers go
// on, and compares the end of the chain with the head row, which catches the
// deletion of the newest records.
func (s *Store) VerifyAudit(ctx context.Context) ([]byte, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.d.name == "postgres", Isolation: s.d.snapshot()})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: verify audit: %w", err)
	}
	defer tx.Rollback()
	var headSeq int64
	var headHash []byte
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM puce_audit_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return nil, fmt.Errorf("sqlstore: verify audit: read head: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM puce_audit ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: verify audit: %w", err)
	}
	defer rows.Close()
	var v identity.ChainVerifier
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: verify audit: %w", err)
		}
		if err := v.Next(r); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: verify audit: %w", err)
	}
	if v.Last() != headSeq || string(v.Head()) != string(headHash) {
		return nil, fmt.Errorf("%w: the log ends at record %d but its head says %d (newest records deleted)", identity.ErrAuditBroken, v.Last(), headSeq)
	}
	return v.Head(), nil
}

// snapshot is the isolation level that gives VerifyAudit one consistent view.
func (d dialect) snapshot() sql.IsolationLevel {
	if d.name == "postgres" {
		return sql.LevelRepeatableRead
	}
	// SQLite transactions are serializable already; modernc accepts only the
	// default level.
	return sql.LevelDefault
}
