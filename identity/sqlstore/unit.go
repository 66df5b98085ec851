package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/puce-id/puce/identity"
)

var _ identity.UnitStore = (*Store)(nil)

// A verification as one unit (identity.UnitStore): one read of the
// challenge, the throttle records and the subject's credentials, then one
// transaction with every write, each conditional on what was read. On
// PostgreSQL each half is one round trip: a pgx batch, sent in pipeline
// mode; in the commit, each conditional write is a statement that fails
// (a division by the number of rows it changed) when its condition does
// not hold, which aborts the transaction before its COMMIT. On SQLite the
// read is a few calls into the engine and the commit one BEGIN IMMEDIATE …
// COMMIT: there a round trip is a function call, and the commit is what
// costs.

const (
	unitChallengeQ = `SELECT kind, purpose, subject, origin, payload, state, txn, created_at, expires_at, consumed_at IS NOT NULL FROM puce_challenges WHERE id = ?`
	unitThrottleQ  = `SELECT failures, not_before, version FROM puce_throttle WHERE key = ?`
	unitCredsQ     = `SELECT ` + credentialColumns + ` FROM puce_credentials WHERE subject = ? AND kind = ? ORDER BY created_at, kind, id`
)

// ReadUnit implements identity.UnitStore.
func (s *Store) ReadUnit(ctx context.Context, r *identity.UnitRead) error {
	r.Found, r.Consumed, r.Ch = false, false, identity.Challenge{}
	r.ThrottleState, r.ClientState, r.Credentials = identity.ThrottleState{}, identity.ThrottleState{}, r.Credentials[:0]
	if s.d.name == "postgres" {
		return s.readUnitPG(ctx, r)
	}
	var purpose int
	var created, expires int64
	err := s.queryRow(ctx, unitChallengeQ, r.Challenge[:]).Scan(&r.Ch.Kind, &purpose, &r.Ch.Subject, &r.Ch.Origin, &r.Ch.Payload,
		&r.Ch.State, &r.Ch.Transaction, &created, &expires, &r.Consumed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("sqlstore: read challenge: %w", err)
	default:
		r.Found = true
		r.Ch.ID, r.Ch.Purpose = r.Challenge, identity.Purpose(purpose)
		r.Ch.CreatedAt, r.Ch.ExpiresAt = fromMicros(created), fromMicros(expires)
	}
	if r.Throttle.Kind != "" {
		if r.ThrottleState, err = s.LoadThrottle(ctx, r.Throttle); err != nil {
			return err
		}
	}
	if r.Client.Kind != "" {
		if r.ClientState, err = s.LoadThrottle(ctx, r.Client); err != nil {
			return err
		}
	}
	if r.Subject != "" {
		rows, err := s.query(ctx, unitCredsQ, r.Subject, r.Kind)
		if err != nil {
			return fmt.Errorf("sqlstore: read credentials: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCredential(rows)
			if err != nil {
				return fmt.Errorf("sqlstore: read credentials: %w", err)
			}
			r.Credentials = append(r.Credentials, *c)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: read credentials: %w", err)
		}
	}
	return nil
}

// unitWrite is one conditional write of a commit: its statement (with ?
// placeholders), arguments, and the conflict it reports when it changes no
// row ("" for a write without condition).
type unitWrite struct {
	q        string
	args     []any
	conflict string
}

// unitWrites lists w's writes, audit appends excluded, in the order they
// run: challenge, throttle, counters, credentials.
func unitWrites(w *identity.UnitWrites) ([]unitWrite, error) {
	var out []unitWrite
	if !w.Challenge.IsZero() {
		out = append(out, unitWrite{`UPDATE puce_challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL`,
			[]any{micros(w.ConsumedAt), w.Challenge[:]}, "the challenge was used meanwhile"})
	}
	key := w.ThrottleKey.String()
	switch {
	case w.Count && w.Prev.Version == 0:
		out = append(out, unitWrite{`INSERT INTO puce_throttle (key, failures, not_before, version) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{key, w.Next.Failures, micros(w.Next.NotBefore), w.Next.Version}, "the throttle record changed meanwhile"})
	case w.Count:
		out = append(out, unitWrite{`UPDATE puce_throttle SET failures = ?, not_before = ?, version = ? WHERE key = ? AND version = ?`,
			[]any{w.Next.Failures, micros(w.Next.NotBefore), w.Next.Version, key, w.Prev.Version}, "the throttle record changed meanwhile"})
	case w.Clear:
		out = append(out, unitWrite{`DELETE FROM puce_throttle WHERE key = ?`, []any{key}, ""})
	}
	for _, a := range w.Counters {
		if a.N > math.MaxInt64 {
			return nil, fmt.Errorf("%w: counter %d does not fit the database", identity.ErrBadInput, a.N)
		}
		out = append(out, unitWrite{`UPDATE puce_credentials SET counter = ?, last_used_at = ? WHERE kind = ? AND id = ? AND subject = ? AND counter < ?`,
			[]any{int64(a.N), micros(a.At), a.Ref.Kind, a.Ref.ID, a.Ref.Subject, int64(a.N)}, "the counter moved meanwhile"})
	}
	for i := range w.Updates {
		c := &w.Updates[i]
		if c.Revision >= math.MaxInt64 {
			return nil, fmt.Errorf("%w: revision %d does not fit the database", identity.ErrBadInput, c.Revision)
		}
		out = append(out, unitWrite{`UPDATE puce_credentials SET name = ?, secret = ?, public = ?, active = ?, last_used_at = ?, revision = revision + 1
		WHERE kind = ? AND id = ? AND subject = ? AND revision = ?`,
			[]any{c.Name, c.Secret, c.Public, c.Active, micros(c.LastUsedAt), c.Kind, c.ID, c.Subject, int64(c.Revision)}, "the credential changed meanwhile"})
	}
	for _, ref := range w.Deletes {
		out = append(out, unitWrite{`DELETE FROM puce_credentials WHERE kind = ? AND id = ? AND subject = ?`,
			[]any{ref.Kind, ref.ID, ref.Subject}, "the credential was removed meanwhile"})
	}
	return out, nil
}

// CommitUnit implements identity.UnitStore.
func (s *Store) CommitUnit(ctx context.Context, w *identity.UnitWrites) error {
	writes, err := unitWrites(w)
	if err != nil {
		return err
	}
	for i := range w.Events {
		w.Events[i].Time = time.UnixMicro(w.Events[i].Time.UnixMicro()).UTC()
	}
	if s.d.name == "postgres" {
		err = s.commitUnitPG(ctx, writes, w.Events)
	} else {
		err = s.commitUnitSQLite(ctx, writes, w.Events)
	}
	if err != nil {
		return err
	}
	s.audited(ctx, int64(len(w.Events)))
	return nil
}

func (s *Store) commitUnitSQLite(ctx context.Context, writes []unitWrite, events []identity.Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: commit verification: %w", err)
	}
	defer tx.Rollback()
	for _, u := range writes {
		r, err := s.txExec(ctx, tx, u.q, u.args...)
		if err != nil {
			return fmt.Errorf("sqlstore: commit verification: %w", err)
		}
		if u.conflict == "" {
			continue
		}
		if n, err := affected(r); err != nil {
			return err
		} else if n != 1 {
			return identity.UnitConflict(u.conflict)
		}
	}
	for _, e := range events {
		if err := s.auditInTx(ctx, tx, e); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit verification: %w", err)
	}
	return nil
}
