package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
)

// trailWatch is what this handle saw of its audit trail, kept in its
// memory: state outside the database, which whoever writes the database
// cannot roll back. At each of its checkpoints the handle checks that the
// records it appended since the last one are still where it put them, and
// that the checkpoint it last wrote is still there (which its timed
// ticks also check in between, checkpointKept). Between
// checkpoints the chains are plain hash chains, and the record seals do
// not cover a record's place (identity/auditchain), so this is what tells
// the newest records deleted or reordered, and the trail cut back to an
// earlier checkpoint, while the store runs.
type trailWatch struct {
	mu sync.Mutex
	// cpSeq and cpMAC are the checkpoint this handle wrote last; zero
	// before its first.
	cpSeq int64
	cpMAC []byte
	// mine are the records this handle committed since its last check,
	// oldest first, and since the time of the first of them.
	mine  []auditchain.Head
	since time.Time
	// base counts the records ever removed from the front of mine, so
	// that a check forgets exactly the records its snapshot held: checks
	// of one handle overlap (the timer's, a count's, the application's),
	// and the watch trims itself meanwhile. forgetting: it trimmed
	// unchecked records since the last check (logged once).
	base       int64
	forgetting bool
	// tickets number this handle's checkpoints in the order they hold
	// the checkpoint lock, which is the order they commit; cpTicket is
	// cpSeq's. The order of their sequence numbers is not it: a trail
	// cut back gives the next checkpoint a number already seen.
	tickets, cpTicket int64
}

// maxWatched bounds what a handle remembers between two checks: its
// checkpoints come every CheckpointEvery appends, and at least every
// maxWatched/2 (Store.audited), so more are only waiting behind
// checkpoints that fail; the newest are kept.
const maxWatched = 1 << 14

// appended remembers records this handle has just committed.
func (w *trailWatch) appended(now time.Time, heads []auditchain.Head) {
	if len(heads) == 0 {
		return
	}
	w.mu.Lock()
	if len(w.mine) == 0 {
		w.since = now
	}
	w.mine = append(w.mine, heads...)
	first := false
	if n := len(w.mine) - maxWatched; n > 0 {
		w.mine = append(w.mine[:0], w.mine[n:]...)
		w.base += int64(n)
		first = !w.forgetting
		w.forgetting = true
	}
	w.mu.Unlock()
	if first {
		// Only when checks keep failing (the store checkpoints before the
		// watch fills): what is forgotten here is no longer watched, so
		// say so where the operator looks, once until a check succeeds.
		slog.Error("puce: this store's audit checkpoints have failed for too long; it stops watching its oldest unchecked records (a deletion of them would go unseen)",
			"watched", maxWatched)
	}
}

// seen is a copy of what a check compares the database with.
type seen struct {
	cpSeq int64
	cpMAC []byte
	mine  []auditchain.Head
	// end is base+len(mine) when the snapshot was taken: the records
	// before it are the ones the check covers.
	end int64
}

func (w *trailWatch) snapshot() seen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return seen{cpSeq: w.cpSeq, cpMAC: w.cpMAC, mine: append([]auditchain.Head(nil), w.mine...),
		end: w.base + int64(len(w.mine))}
}

// ticket numbers a checkpoint of this handle that holds the checkpoint
// lock.
func (w *trailWatch) ticket() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tickets++
	return w.tickets
}

// checked forgets the records a check covered (those appended during it
// stay for the next) and remembers the checkpoint just written, which
// held ticket.
func (w *trailWatch) checked(s seen, ticket, seq int64, mac []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// By place, not by count: another check may have ended meanwhile, or
	// the watch trimmed its front, and a count from the front would then
	// forget records appended after s, which no check has seen.
	if n := min(s.end-w.base, int64(len(w.mine))); n > 0 {
		w.mine = append(w.mine[:0], w.mine[n:]...)
		w.base += n
	}
	w.forgetting = false
	// Checks of one handle end in any order; the one committed last is
	// the checkpoint to watch (an older one kept would let a cut back to
	// it pass).
	if ticket > w.cpTicket {
		w.cpTicket, w.cpSeq, w.cpMAC = ticket, seq, mac
	}
}

// lastCheckpoint is the checkpoint this handle wrote last (0 before any).
func (w *trailWatch) lastCheckpoint() (int64, []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cpSeq, w.cpMAC
}

// pending says whether this handle appended records no check has covered.
func (w *trailWatch) pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.mine) > 0
}

// due says whether this handle's records have waited long enough for a
// check: then a tick checkpoints even if another instance wrote the
// newest checkpoint, so that every instance checks what it appended.
func (w *trailWatch) due(now time.Time, after time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.mine) > 0 && now.Sub(w.since) >= after
}

// changed compares the database, inside the checkpoint's transaction
// (which holds the checkpoint lock), with what the handle saw: what it
// finds changed, in words, or "".
func (s *Store) changed(ctx context.Context, tx *sql.Tx, v seen) (string, error) {
	var found []string
	if v.cpSeq > 0 {
		mac, err := checkpointMAC(tx.QueryRowContext(ctx, s.d.rebind(checkpointMACQuery), v.cpSeq))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			found = append(found, fmt.Sprintf("checkpoint %d, which this store wrote, is gone (the trail was cut back)", v.cpSeq))
		case err != nil:
			return "", fmt.Errorf("read checkpoint %d: %w", v.cpSeq, err)
		case !bytes.Equal(mac, v.cpMAC):
			found = append(found, fmt.Sprintf("checkpoint %d, which this store wrote, was replaced", v.cpSeq))
		}
	}
	// The records, a few hundred at a time, each one lookup of the unique
	// (part, seq) index: a list joined to the table, where a chain of
	// ORs made PostgreSQL plan for longer than the 100 appends it checks
	// took (BenchmarkCheckpointWatch).
	const chunk = 500
	for i := 0; i < len(v.mine); i += chunk {
		part := v.mine[i:min(i+chunk, len(v.mine))]
		want := make(map[[2]int64][]byte, len(part))
		for _, h := range part {
			want[[2]int64{int64(h.Partition), h.Seq}] = h.Hash
		}
		var q strings.Builder
		var args []any
		if s.d.name == "postgres" {
			ps, seqs := make([]int32, len(part)), make([]int64, len(part))
			for j, h := range part {
				ps[j], seqs[j] = int32(h.Partition), h.Seq
			}
			q.WriteString(`SELECT l.part, l.seq, l.hash FROM unnest($1::int[], $2::bigint[]) AS w(part, seq) JOIN puce_audit_log l ON l.part = w.part AND l.seq = w.seq`)
			args = []any{ps, seqs}
		} else {
			q.WriteString(`WITH w(part, seq) AS (VALUES `)
			for j, h := range part {
				if j > 0 {
					q.WriteString(`, `)
				}
				q.WriteString(`(?, ?)`)
				args = append(args, h.Partition, h.Seq)
			}
			q.WriteString(`) SELECT l.part, l.seq, l.hash FROM w JOIN puce_audit_log l ON l.part = w.part AND l.seq = w.seq`)
		}
		rows, err := tx.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return "", fmt.Errorf("read this store's records: %w", err)
		}
		for rows.Next() {
			var p, seq int64
			var hash []byte
			if err := rows.Scan(&p, &seq, &hash); err != nil {
				rows.Close()
				return "", fmt.Errorf("read this store's records: %w", err)
			}
			k := [2]int64{p, seq}
			if w, ok := want[k]; ok && !bytes.Equal(w, hash) {
				found = append(found, fmt.Sprintf("record %d of partition %d, which this store appended, was replaced (records deleted, moved or altered)", seq, p))
			}
			delete(want, k)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", fmt.Errorf("read this store's records: %w", err)
		}
		gone := slices.SortedFunc(maps.Keys(want), func(a, b [2]int64) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
		for _, k := range gone {
			found = append(found, fmt.Sprintf("record %d of partition %d, which this store appended, is gone (records deleted)", k[1], k[0]))
		}
	}
	if len(found) == 0 {
		return "", nil
	}
	if len(found) > 4 {
		found = append(found[:4], fmt.Sprintf("and %d more", len(found)-4))
	}
	return strings.Join(found, "; "), nil
}

// keepCheckpoints runs until ctx ends: every quarter CheckpointInterval it
// checkpoints when the trail's newest checkpoint is three quarters of an
// interval old (or dated more than auditchain.MaxCheckpointLead ahead),
// or this handle's oldest unchecked record is (see
// identity.AuditConfig.CheckpointInterval); otherwise it checks that this
// handle's last checkpoint is still there (checkpointKept). It also
// writes the checkpoints CheckpointEvery appends ask for (audited).
func (s *Store) keepCheckpoints(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	every := s.audit.CheckpointInterval
	t := time.NewTicker(every / 4)
	defer t.Stop()
	for {
		counted := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.countDue:
			counted = true
		}
		// Bounded: whoever reaches the database can hold the checkpoint
		// lock, and a tick waiting for ever would say nothing while the
		// watch goes unchecked and the newest checkpoint ages.
		tick, cancel := context.WithTimeout(ctx, max(every, time.Second))
		var err error
		if counted {
			err = s.Checkpoint(tick)
		} else {
			err = s.checkpointIfDue(tick, every*3/4)
		}
		cancel()
		switch {
		case err == nil || ctx.Err() != nil || errors.Is(err, identity.ErrAuditBroken):
		case counted:
			slog.WarnContext(ctx, "puce: audit checkpoint failed; the next one will cover these events", "err", err)
		default:
			slog.WarnContext(ctx, "puce: timed audit checkpoint failed; the next tick tries again", "err", err)
		}
	}
}

func (s *Store) checkpointIfDue(ctx context.Context, after time.Duration) error {
	now := s.now()
	if !s.watch.due(now, after) {
		var last int64
		err := s.queryRow(ctx, `SELECT time FROM puce_audit_checkpoints ORDER BY seq DESC LIMIT 1`).Scan(&last)
		switch {
		case err == nil:
			// Dated further ahead than a store follows (a clock far
			// wrong): due now, dated by this clock (CheckpointTime), or
			// the trail would wait that lead out unable to pass Fresh.
			age := now.Sub(fromMicros(last))
			if age < after && -age <= auditchain.MaxCheckpointLead {
				return s.checkpointKept(ctx)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlstore: timed checkpoint: %w", err)
		}
	}
	return s.Checkpoint(ctx)
}

// checkpointKept is a tick's check when this handle has nothing due and
// another instance keeps the newest checkpoint fresh: the checkpoint this
// handle wrote last is still there. Otherwise an idle handle would never
// check again, and a trail cut back to before its checkpoint, then
// checkpointed afresh by an instance that wrote nothing cut, would pass
// AuditKeys.Fresh while the handle that saw it runs. One indexed read a
// tick; a change found is recorded by a checkpoint, which checks again
// under the lock.
func (s *Store) checkpointKept(ctx context.Context) error {
	seq, want := s.watch.lastCheckpoint()
	if seq == 0 {
		return nil
	}
	mac, err := checkpointMAC(s.queryRow(ctx, checkpointMACQuery, seq))
	switch {
	case err == nil && bytes.Equal(mac, want):
		return nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: timed checkpoint: %w", err)
	}
	return s.Checkpoint(ctx)
}

// checkpointMACQuery reads the MAC of the checkpoint a handle wrote last,
// which its checks compare with the one it remembers.
const checkpointMACQuery = `SELECT mac FROM puce_audit_checkpoints WHERE seq = ?`

func checkpointMAC(row *sql.Row) (mac []byte, err error) {
	err = row.Scan(&mac)
	return mac, err
}
