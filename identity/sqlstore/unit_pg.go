package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/sqlstore/internal/sqlhook"
)

// batch is the queries of one pgx batch as the store writes them, sent
// together in one round trip.
type batch struct {
	b       pgx.Batch
	queries []string
}

func (s *Store) queue(b *batch, q string, args ...any) {
	q = s.d.rebind(q)
	b.b.Queue(q, args...)
	b.queries = append(b.queries, q)
}

// withPgx runs f on a pgx connection of the pool, past database/sql, which
// can send one query at a time only. A connection f leaves inside a
// transaction (it failed half-way, or the server went away) is discarded,
// never handed to the next caller.
func (s *Store) withPgx(ctx context.Context, f func(c *pgx.Conn, send func(*batch) pgx.BatchResults) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		obs, _ := dc.(sqlhook.BatchObserver)
		for {
			u, ok := dc.(sqlhook.Unwrapper)
			if !ok {
				break
			}
			dc = u.Unwrap()
		}
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("sqlstore: the PostgreSQL driver is %T, not pgx", dc)
		}
		c := sc.Conn()
		var start time.Time
		var sent []string
		send := func(b *batch) pgx.BatchResults {
			start, sent = time.Now(), b.queries
			return c.SendBatch(ctx, &b.b)
		}
		err := f(c, send)
		if obs != nil && sent != nil {
			obs.ObserveBatch(sent, time.Since(start))
		}
		if c.PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, rerr := c.Exec(rctx, "ROLLBACK")
			cancel()
			if obs != nil {
				obs.ObserveBatch([]string{"ROLLBACK"}, 0)
			}
			if rerr != nil || c.PgConn().TxStatus() != 'I' {
				return errors.Join(err, driver.ErrBadConn)
			}
		}
		return err
	})
}

func (s *Store) readUnitPG(ctx context.Context, r *identity.UnitRead) error {
	var b batch
	s.queue(&b, unitChallengeQ, r.Challenge[:])
	if r.Throttle.Kind != "" {
		s.queue(&b, unitThrottleQ, r.Throttle.String())
	}
	if r.Client.Kind != "" {
		s.queue(&b, unitThrottleQ, r.Client.String())
	}
	if r.Subject != "" {
		for _, k := range r.Unlocks {
			s.queue(&b, unitThrottleQ, identity.ThrottleKey{Subject: r.Subject, Kind: k}.String())
		}
		s.queue(&b, unitCredsQ, string(r.Subject), string(r.Kind))
	}
	err := s.withPgx(ctx, func(_ *pgx.Conn, send func(*batch) pgx.BatchResults) error {
		br := send(&b)
		defer br.Close()
		var kind, subject string
		var purpose int
		var created, expires int64
		err := br.QueryRow().Scan(&kind, &purpose, &subject, &r.Ch.Origin, &r.Ch.Payload, &r.Ch.State, &r.Ch.Transaction,
			&created, &expires, &r.Consumed)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read challenge: %w", err)
		default:
			r.Found = true
			r.Ch.ID, r.Ch.Kind, r.Ch.Purpose, r.Ch.Subject = r.Challenge, identity.Kind(kind), identity.Purpose(purpose), identity.Subject(subject)
			r.Ch.CreatedAt, r.Ch.ExpiresAt = fromMicros(created), fromMicros(expires)
		}
		for _, st := range []*identity.ThrottleState{&r.ThrottleState, &r.ClientState} {
			if (st == &r.ThrottleState && r.Throttle.Kind == "") || (st == &r.ClientState && r.Client.Kind == "") {
				continue
			}
			var nb int64
			err := br.QueryRow().Scan(&st.Failures, &nb, &st.Version)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return fmt.Errorf("read throttle: %w", err)
			default:
				st.NotBefore = fromMicros(nb)
			}
		}
		if r.Subject == "" {
			return nil
		}
		for i := range r.Unlocks {
			st := &r.UnlockStates[i]
			var nb int64
			err := br.QueryRow().Scan(&st.Failures, &nb, &st.Version)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return fmt.Errorf("read throttle: %w", err)
			default:
				st.NotBefore = fromMicros(nb)
			}
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("read credentials: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c identity.Credential
			var subject, kind string
			var counter, created, used, revision int64
			if err := rows.Scan(&subject, &kind, &c.ID, &c.Name, &c.Secret, &c.Public, &counter, &c.Active, &created, &used, &revision); err != nil {
				return fmt.Errorf("read credentials: %w", err)
			}
			c.Subject, c.Kind = identity.Subject(subject), identity.Kind(kind)
			c.Counter, c.Revision = uint64(counter), uint64(revision)
			c.CreatedAt, c.LastUsedAt = fromMicros(created), fromMicros(used)
			r.Credentials = append(r.Credentials, c)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("sqlstore: read the verification's state: %w", err)
	}
	return nil
}

// divisionByZero is the SQLSTATE of the failed condition of a conditional
// write (see commitUnitPG).
const divisionByZero = "22012"

// deadlockDetected is the SQLSTATE of a transaction PostgreSQL rolled back
// to break a deadlock: all of it undone ("Explicit Locking", Deadlocks),
// so a unit that gets it wrote nothing and may be judged again. Units
// lock rows of one subject in the order of their writes, and two that
// touch the same throttle records in opposite orders (a login that resets
// another factor's record, beside one of that factor resetting the first)
// can deadlock.
const deadlockDetected = "40P01"

func (s *Store) commitUnitPG(ctx context.Context, writes []unitWrite, events []identity.Event) error {
	var b batch
	s.queue(&b, `BEGIN`)
	for _, u := range writes {
		if u.conflict == "" {
			s.queue(&b, u.q, u.args...)
			continue
		}
		// A data-modifying WITH runs once whatever the SELECT reads; the
		// division fails when it changed no row.
		s.queue(&b, `WITH u AS (`+u.q+` RETURNING 1) SELECT 1 / (SELECT count(*)::int FROM u)`, u.args...)
	}
	for i := range events {
		s.queue(&b, auditAppendPG, s.auditArgs(&events[i])...)
	}
	s.queue(&b, `COMMIT`)
	var conflict error
	// The audit appends give back where their records went, for the
	// handle's watch of its trail (trailWatch).
	firstAudit := 1 + len(writes)
	heads := make([]auditchain.Head, len(events))
	err := s.withPgx(ctx, func(c *pgx.Conn, send func(*batch) pgx.BatchResults) error {
		br := send(&b)
		var first error
		for i := range b.queries {
			var err error
			if a := i - firstAudit; a >= 0 && a < len(events) {
				h := &heads[a]
				err = br.QueryRow().Scan(&h.Partition, &h.Seq, &h.Hash)
			} else {
				_, err = br.Exec()
			}
			if err == nil || first != nil {
				continue
			}
			first = err
			var pe *pgconn.PgError
			switch {
			case !errors.As(err, &pe):
			case pe.Code == deadlockDetected:
				conflict = identity.UnitConflict("a concurrent verification deadlocked with this one")
			case pe.Code == divisionByZero:
				if w := i - 1; w >= 0 && w < len(writes) {
					conflict = identity.UnitConflict(writes[w].conflict)
				}
			}
		}
		if err := br.Close(); first == nil {
			first = err
		}
		return first
	})
	switch {
	case conflict != nil:
		return conflict
	case err != nil:
		return fmt.Errorf("sqlstore: commit verification: %w", err)
	}
	s.watch.appended(s.now(), heads)
	return nil
}
