package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/puce-id/puce/identity"
)

// CreateSession implements identity.SessionStore.
func (s *Store) CreateSession(ctx context.Context, r *identity.SessionRecord) error {
	if err := identity.ValidateKeys(r.Subject, "", ""); err != nil {
		return fmt.Errorf("sqlstore: create session: %w", err)
	}
	res, err := s.exec(ctx, `INSERT INTO puce_sessions (id, subject, data, created_at, last_seen_at, expires_at, version)
		VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`,
		r.ID[:], r.Subject, r.Data, micros(r.CreatedAt), micros(r.LastSeenAt), micros(r.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: create session: %w", err)
	}
	if n, err := affected(res); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: session", identity.ErrExists)
	}
	r.Version = 1
	return nil
}

// Session implements identity.SessionStore. The expiry is part of the
// query, so an expired row that no purge has reached yet is absent too.
func (s *Store) Session(ctx context.Context, id identity.SessionID, now time.Time) (*identity.SessionRecord, error) {
	r := identity.SessionRecord{ID: id}
	var created, seen, expires, version int64
	err := s.queryRow(ctx, `SELECT subject, data, created_at, last_seen_at, expires_at, version FROM puce_sessions WHERE id = ? AND expires_at > ?`,
		id[:], micros(now)).Scan(&r.Subject, &r.Data, &created, &seen, &expires, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, identity.ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: load session: %w", err)
	}
	r.CreatedAt, r.LastSeenAt, r.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	r.Version = uint64(version)
	return &r, nil
}

// UpdateSession implements identity.SessionStore as a compare-and-swap on
// the version column.
func (s *Store) UpdateSession(ctx context.Context, r *identity.SessionRecord) error {
	if r.Version >= math.MaxInt64 {
		return fmt.Errorf("%w: session version %d does not fit the database", identity.ErrBadInput, r.Version)
	}
	if err := identity.ValidateKeys(r.Subject, "", ""); err != nil {
		return fmt.Errorf("sqlstore: update session: %w", err)
	}
	res, err := s.exec(ctx, `UPDATE puce_sessions SET subject = ?, data = ?, last_seen_at = ?, expires_at = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		r.Subject, r.Data, micros(r.LastSeenAt), micros(r.ExpiresAt), r.ID[:], int64(r.Version))
	if err != nil {
		return fmt.Errorf("sqlstore: update session: %w", err)
	}
	if n, err := affected(res); err != nil {
		return err
	} else if n == 1 {
		r.Version++
		return nil
	}
	return s.sessionMissed(ctx, r.ID, r.Version)
}

// DeleteSession implements identity.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id identity.SessionID, version uint64) error {
	if version >= math.MaxInt64 {
		return fmt.Errorf("%w: session version %d does not fit the database", identity.ErrBadInput, version)
	}
	var res sql.Result
	var err error
	if version == 0 {
		res, err = s.exec(ctx, `DELETE FROM puce_sessions WHERE id = ?`, id[:])
	} else {
		res, err = s.exec(ctx, `DELETE FROM puce_sessions WHERE id = ? AND version = ?`, id[:], int64(version))
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete session: %w", err)
	}
	if n, err := affected(res); err != nil {
		return err
	} else if n == 1 {
		return nil
	}
	return s.sessionMissed(ctx, id, version)
}

// RenewSession implements identity.SessionRenewer. On PostgreSQL it is one
// UPDATE that moves the row to its new key: a RevokeSessions waiting on the
// row then follows it to the new version and deletes that too (READ
// COMMITTED re-checks an updated row), where a delete and an insert would
// leave it a new row its snapshot cannot see, and the renewed session would
// outlive a sign-out everywhere. SQLite, one writer at a time, runs a delete
// and an insert in one transaction (one commit instead of two).
func (s *Store) RenewSession(ctx context.Context, old identity.SessionID, version uint64, next *identity.SessionRecord) error {
	if version >= math.MaxInt64 {
		return fmt.Errorf("%w: session version %d does not fit the database", identity.ErrBadInput, version)
	}
	if err := identity.ValidateKeys(next.Subject, "", ""); err != nil {
		return fmt.Errorf("sqlstore: renew session: %w", err)
	}
	// A version of 0 matches any row: versions start at 1.
	args := []any{old[:], int64(version), int64(version),
		next.ID[:], next.Subject, next.Data, micros(next.CreatedAt), micros(next.LastSeenAt), micros(next.ExpiresAt)}
	const del = `DELETE FROM puce_sessions WHERE id = ? AND (? = 0 OR version = ?)`
	const ins = `INSERT INTO puce_sessions (id, subject, data, created_at, last_seen_at, expires_at, version)`
	var renewed bool
	if s.d.name == "postgres" {
		res, err := s.exec(ctx, `UPDATE puce_sessions SET id = ?, subject = ?, data = ?, created_at = ?, last_seen_at = ?, expires_at = ?, version = 1
			WHERE id = ? AND (? = 0 OR version = ?)`, slices.Concat(args[3:], args[:3])...)
		if uniqueViolation(err) {
			// The new ID is taken; the statement wrote nothing.
			return fmt.Errorf("%w: session", identity.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: renew session: %w", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		renewed = n == 1
	} else {
		var err error
		if renewed, err = s.renewSQLite(ctx, del, ins, args); err != nil {
			return err
		}
	}
	if renewed {
		next.Version = 1
		return nil
	}
	// Nothing was inserted: the delete found no row at version (and
	// nothing was written), or the new ID was taken.
	var cur int64
	err := s.queryRow(ctx, `SELECT version FROM puce_sessions WHERE id = ?`, old[:]).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return identity.ErrNoSession
	case err != nil:
		return fmt.Errorf("sqlstore: session: %w", err)
	case version == 0 || uint64(cur) == version:
		return fmt.Errorf("%w: session", identity.ErrExists)
	}
	return fmt.Errorf("%w: session is at version %d, the renewal was built on %d", identity.ErrChanged, cur, version)
}

func (s *Store) renewSQLite(ctx context.Context, del, ins string, args []any) (bool, error) {
	tx, end, err := s.beginWrite(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlstore: renew session: %w", err)
	}
	defer end()
	res, err := s.txExec(ctx, tx, del, args[:3]...)
	if err != nil {
		return false, fmt.Errorf("sqlstore: renew session: %w", err)
	}
	if n, err := affected(res); err != nil || n != 1 {
		return false, err
	}
	if res, err = s.txExec(ctx, tx, ins+` VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`, args[3:]...); err != nil {
		return false, fmt.Errorf("sqlstore: renew session: %w", err)
	}
	if n, err := affected(res); err != nil || n != 1 {
		// Keep the old session: the ID clash is reported, nothing written.
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlstore: renew session: commit: %w", err)
	}
	return true, nil
}

// sessionMissed says why a conditional write touched no row; the decision
// itself was made atomically by that write.
func (s *Store) sessionMissed(ctx context.Context, id identity.SessionID, version uint64) error {
	var cur int64
	err := s.queryRow(ctx, `SELECT version FROM puce_sessions WHERE id = ?`, id[:]).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return identity.ErrNoSession
	}
	if err != nil {
		return fmt.Errorf("sqlstore: session: %w", err)
	}
	return fmt.Errorf("%w: session is at version %d, the write was built on %d", identity.ErrChanged, cur, version)
}

// PurgeSessions implements identity.SessionStore.
func (s *Store) PurgeSessions(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM puce_sessions WHERE expires_at < ?`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: purge sessions: %w", err)
	}
	return affected(res)
}

// RevokeSessions implements identity.SessionRevoker in one DELETE, found
// through the subject's index (migration 6). On PostgreSQL a renewal or
// update it meets on a row is followed to the row's new version (see
// RenewSession), so no session of the subject escapes under a new ID.
func (s *Store) RevokeSessions(ctx context.Context, subject identity.Subject, keep identity.SessionID) (int64, error) {
	if err := subject.Validate(); err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, `DELETE FROM puce_sessions WHERE subject = ? AND id <> ?`, subject, keep[:])
	if err != nil {
		return 0, fmt.Errorf("sqlstore: revoke sessions: %w", err)
	}
	return affected(res)
}

// uniqueViolation reports whether err is PostgreSQL's unique_violation
// (SQLSTATE 23505).
func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
