package sqlstoretest

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/internal/numbered"
)

// The same-tables anchor. BenchBare writes as many rows as a Finish, but to
// a table of its own with one b-tree; a Finish writes its rows into the
// store's tables, whose indexes (the audit log's (part, seq) and
// (subject, id), besides its rowid) make a commit touch about twice as
// many pages. This anchor writes the rows the counting driver saw one
// Finish write, table by table, into those same tables:
//
//   - puce_challenges, UPDATE: consumes (sets consumed_at of) a copy of the
//     latest challenge, issued before the clock started with a fresh ID and
//     a far expiry; INSERT adds such a copy, DELETE removes one.
//   - puce_credentials, UPDATE: sets last_used_at of the credential the
//     Finish used last (the same row; its counter, which the next Finish
//     checks, is left alone); INSERT and DELETE: copies of it under a
//     subject of their own, so the factor never sees them.
//   - puce_throttle: INSERT of fresh keys, UPDATE of one row of the
//     anchor's, DELETE of rows inserted before the clock started.
//   - puce_audit_log, INSERT: a copy of the latest record (its fields as
//     wide as a real one's), into partition anchorPart, which the store
//     never uses (partitions are 0 to N-1, the legacy chain -1);
//     puce_audit_parts, UPDATE: that partition's head, seq, prev and hash.
//     Its records and head are deleted when the benchmark ends, so the
//     store's chains stay verifiable (VerifyAudit reads every head).
//
// By primary key, no reads, no conditions, no checks in Go, one commit.
// With oneRoundTrip false: BEGIN (IMMEDIATE on SQLite, as the store's
// transactions are), a prepared statement per row, COMMIT — SQLite's
// anchor, "same-tx". With oneRoundTrip true: the whole transaction as one
// string with literal values, one round trip on PostgreSQL — PostgreSQL's
// anchor, "same-1rt".

// anchorPart is the first audit partition a same-tables anchor appends
// to; each anchor of a benchmark takes one of its own below it, so two can
// run side by side (see newSameTables).
const anchorPart = math.MaxInt32

type sameTables struct {
	tb           testing.TB
	db           *sql.DB
	pg           bool
	oneRoundTrip bool
	writes       []TableWrites
	begin        string
	stmts        map[string]*sql.Stmt

	challenge []any    // the template challenge's columns (chCols)
	chIDs     [][]byte // unconsumed copies, for UPDATE and DELETE
	cred      []any    // the template credential's columns (credCols)
	credDel   []string
	thrDel    []string
	audit     []any // the template record's columns (auditCols)
	part      int   // the audit partition of this anchor's records
	seq       int64
	next      int64 // fresh keys
	usedAt    int64
}

const (
	chCols    = `id, kind, purpose, subject, origin, payload, state, txn, created_at, expires_at`
	credCols  = `kind, id, subject, name, secret, public, counter, active, created_at, last_used_at, revision`
	auditCols = `time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash`
	// farExpiry keeps the anchor's challenges from any purge: about 100
	// years in microseconds, as wide an integer as today's times.
	farExpiry = int64(100 * 365 * 24 * 3600 * 1e6)
)

// templates are the rows the same-tables anchor copies: the latest
// challenge, the credential used last, the latest audit record, as a
// Finish left them (read right after it: a later Finish may have deleted
// its credential, as a recovery login deletes its code). Nil where the
// Finish did not write the table.
type templates struct {
	challenge, cred, audit []any
}

// readTemplates reads the templates of the tables in w from s.
func readTemplates(tb testing.TB, s *sqlstore.Store, w []TableWrites) templates {
	tb.Helper()
	ctx := context.Background()
	row := func(q string, n int) []any {
		v := make([]any, n)
		dest := make([]any, n)
		for i := range v {
			dest[i] = &v[i]
		}
		if err := s.DB().QueryRowContext(ctx, q).Scan(dest...); err != nil {
			tb.Fatalf("same-tables anchor: %s: %v", q, err)
		}
		return v
	}
	var t templates
	for _, tw := range w {
		switch tw.Table {
		case "puce_challenges":
			t.challenge = row(`SELECT `+chCols+` FROM puce_challenges ORDER BY created_at DESC LIMIT 1`, 10)
			t.challenge[9] = toInt(t.challenge[9]) + farExpiry
		case "puce_credentials":
			t.cred = row(`SELECT `+credCols+` FROM puce_credentials ORDER BY last_used_at DESC LIMIT 1`, 11)
		case "puce_audit_log":
			t.audit = row(`SELECT `+auditCols+` FROM puce_audit_log ORDER BY id DESC LIMIT 1`, 10)
		case "puce_audit_parts", "puce_throttle":
		default:
			tb.Fatalf("same-tables anchor: no anchor for writes to %s", tw.Table)
		}
	}
	return t
}

// newSameTables readies the anchor for writes w on s, copying t's rows.
// Anchors that run at once need distinct ids (0, 1, …): their audit
// partitions and keys are apart.
func newSameTables(tb testing.TB, s *sqlstore.Store, w []TableWrites, t templates, oneRoundTrip bool, id int) *sameTables {
	tb.Helper()
	ctx := context.Background()
	x := &sameTables{tb: tb, db: s.DB(), pg: s.Engine() == "postgres", oneRoundTrip: oneRoundTrip, writes: w,
		begin: "BEGIN IMMEDIATE", stmts: map[string]*sql.Stmt{}, part: anchorPart - id,
		challenge: t.challenge, cred: t.cred, audit: t.audit}
	if x.pg {
		x.begin = "BEGIN"
	}
	tb.Cleanup(x.close)
	if x.cred != nil {
		x.usedAt = toInt(x.cred[9])
	}
	for _, tw := range w {
		switch tw.Table {
		case "puce_audit_parts":
			x.exec(ctx, nil, `INSERT INTO puce_audit_parts (part, seq, prev, hash) VALUES (?, 0, ?, ?)`, x.part, make([]byte, 32), make([]byte, 32))
		case "puce_throttle":
			if tw.Updates > 0 {
				x.exec(ctx, nil, `INSERT INTO puce_throttle (key, failures, not_before, version) VALUES (?, 1, 0, 1)`, x.updateKey())
			}
		}
	}
	return x
}

// close removes the anchor's audit records and head, and the rows it
// inserted that share its keys.
func (x *sameTables) close() {
	ctx := context.Background()
	for _, st := range x.stmts {
		st.Close()
	}
	x.exec(ctx, nil, `DELETE FROM puce_audit_log WHERE part = ?`, x.part)
	x.exec(ctx, nil, `DELETE FROM puce_audit_parts WHERE part = ?`, x.part)
	// Its throttle rows and credential copies too: the next anchor with
	// this id numbers its keys from 1 again.
	x.exec(ctx, nil, `DELETE FROM puce_throttle WHERE key LIKE ?`, fmt.Sprintf("anchor/%d/%%", x.part))
	x.exec(ctx, nil, `DELETE FROM puce_credentials WHERE id LIKE ?`, fmt.Sprintf("anchor-%d-%%", x.part))
}

func (x *sameTables) updateKey() string { return fmt.Sprintf("anchor/%d/update", x.part) }

func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	}
	return 0
}

func (x *sameTables) fresh(prefix string) string {
	x.next++
	return fmt.Sprintf("%s%012d", prefix, x.next)
}

// refill inserts, before the clock starts, the rows n more operations will
// update (challenges) or delete.
func (x *sameTables) refill(n int) {
	ctx := context.Background()
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		x.tb.Fatalf("same-tables anchor: %v", err)
	}
	defer tx.Rollback()
	for _, t := range x.writes {
		switch t.Table {
		case "puce_challenges":
			for len(x.chIDs) < n*(t.Updates+t.Deletes) {
				id := randBytes(len(x.challenge[0].([]byte)))
				x.exec(ctx, tx, `INSERT INTO puce_challenges (`+chCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, append([]any{id}, x.challenge[1:]...)...)
				x.chIDs = append(x.chIDs, id)
			}
		case "puce_credentials":
			for len(x.credDel) < n*t.Deletes {
				args := x.credCopy()
				x.exec(ctx, tx, `INSERT INTO puce_credentials (`+credCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
				x.credDel = append(x.credDel, args[1].(string))
			}
		case "puce_throttle":
			for len(x.thrDel) < n*t.Deletes {
				k := x.fresh(fmt.Sprintf("anchor/%d/", x.part))
				x.exec(ctx, tx, `INSERT INTO puce_throttle (key, failures, not_before, version) VALUES (?, 1, 0, 1)`, k)
				x.thrDel = append(x.thrDel, k)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		x.tb.Fatalf("same-tables anchor: %v", err)
	}
}

// credCopy is the template credential under a fresh ID and a subject of
// its own.
func (x *sameTables) credCopy() []any {
	args := append([]any(nil), x.cred...)
	args[1] = x.fresh(fmt.Sprintf("anchor-%d-", x.part))
	args[2] = fmt.Sprint(args[2]) + "/anchor"
	return args
}

func (x *sameTables) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) {
	if x.pg {
		q = numbered.Rebind(q)
	}
	var err error
	if tx != nil {
		_, err = tx.ExecContext(ctx, q, args...)
	} else {
		_, err = x.db.ExecContext(ctx, q, args...)
	}
	if err != nil {
		x.tb.Fatalf("same-tables anchor: %s: %v", q, err)
	}
}

type write struct {
	q    string
	args []any
}

// ops lists one operation's writes, in the order of x.writes.
func (x *sameTables) ops() []write {
	var out []write
	for _, t := range x.writes {
		switch t.Table {
		case "puce_challenges":
			for range t.Inserts {
				out = append(out, write{`INSERT INTO puce_challenges (` + chCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					append([]any{randBytes(len(x.challenge[0].([]byte)))}, x.challenge[1:]...)})
			}
			for range t.Updates {
				out = append(out, write{`UPDATE puce_challenges SET consumed_at = ? WHERE id = ?`, []any{x.challenge[8], x.chIDs[0]}})
				x.chIDs = x.chIDs[1:]
			}
			for range t.Deletes {
				out = append(out, write{`DELETE FROM puce_challenges WHERE id = ?`, []any{x.chIDs[0]}})
				x.chIDs = x.chIDs[1:]
			}
		case "puce_credentials":
			for range t.Inserts {
				out = append(out, write{`INSERT INTO puce_credentials (` + credCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, x.credCopy()})
			}
			for range t.Updates {
				x.usedAt++
				out = append(out, write{`UPDATE puce_credentials SET last_used_at = ? WHERE kind = ? AND id = ?`, []any{x.usedAt, x.cred[0], x.cred[1]}})
			}
			for range t.Deletes {
				out = append(out, write{`DELETE FROM puce_credentials WHERE kind = ? AND id = ?`, []any{x.cred[0], x.credDel[0]}})
				x.credDel = x.credDel[1:]
			}
		case "puce_throttle":
			for range t.Inserts {
				out = append(out, write{`INSERT INTO puce_throttle (key, failures, not_before, version) VALUES (?, 1, 0, 1)`, []any{x.fresh(fmt.Sprintf("anchor/%d/", x.part))}})
			}
			for range t.Updates {
				out = append(out, write{`UPDATE puce_throttle SET failures = failures + 1, version = version + 1 WHERE key = ?`, []any{x.updateKey()}})
			}
			for range t.Deletes {
				out = append(out, write{`DELETE FROM puce_throttle WHERE key = ?`, []any{x.thrDel[0]}})
				x.thrDel = x.thrDel[1:]
			}
		case "puce_audit_log":
			for range t.Inserts {
				x.seq++
				out = append(out, write{`INSERT INTO puce_audit_log (part, seq, ` + auditCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					append([]any{x.part, x.seq}, x.audit...)})
			}
		case "puce_audit_parts":
			for range t.Updates {
				// The head's seq as the record's, its hashes as wide as
				// real ones.
				out = append(out, write{`UPDATE puce_audit_parts SET seq = ?, prev = ?, hash = ? WHERE part = ?`,
					[]any{x.seq, x.auditHash(8), x.auditHash(9), x.part}})
			}
		}
	}
	return out
}

func (x *sameTables) auditHash(i int) any {
	if x.audit != nil {
		return x.audit[i]
	}
	return make([]byte, 32)
}

// warm runs one operation untimed, so that the timed ones find their
// statements prepared on the connection and the pages in the cache, as
// Finish does after its two untimed verifications.
func (x *sameTables) warm() {
	x.refill(1)
	if err := x.step(); err != nil {
		x.tb.Fatalf("same-tables anchor: %v", err)
	}
}

// step runs one operation's transaction.
func (x *sameTables) step() error {
	ctx := context.Background()
	ws := x.ops()
	if x.oneRoundTrip {
		var q strings.Builder
		q.WriteString(x.begin)
		for _, w := range ws {
			q.WriteString("; ")
			q.WriteString(x.literal(w))
		}
		q.WriteString("; COMMIT")
		_, err := x.db.ExecContext(ctx, q.String())
		return err
	}
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, w := range ws {
		st, err := x.stmt(w.q)
		if err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, w.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (x *sameTables) stmt(q string) (*sql.Stmt, error) {
	if st, ok := x.stmts[q]; ok {
		return st, nil
	}
	pq := q
	if x.pg {
		pq = numbered.Rebind(q)
	}
	st, err := x.db.PrepareContext(context.Background(), pq)
	if err != nil {
		return nil, err
	}
	x.stmts[q] = st
	return st, nil
}

// literal is w with its arguments written into the text.
func (x *sameTables) literal(w write) string {
	var b strings.Builder
	i := 0
	for _, r := range w.q {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		switch v := w.args[i].(type) {
		case nil:
			b.WriteString("NULL")
		case int:
			b.WriteString(strconv.Itoa(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case int32:
			b.WriteString(strconv.FormatInt(int64(v), 10))
		case bool:
			switch {
			case x.pg:
				b.WriteString(strconv.FormatBool(v))
			case v:
				b.WriteString("1")
			default:
				b.WriteString("0")
			}
		case string:
			b.WriteString("'" + strings.ReplaceAll(v, "'", "''") + "'")
		case []byte:
			if x.pg {
				b.WriteString(`'\x` + hex.EncodeToString(v) + `'::bytea`)
			} else {
				b.WriteString("X'" + hex.EncodeToString(v) + "'")
			}
		default:
			x.tb.Fatalf("same-tables anchor: no literal for %T", v)
		}
		i++
	}
	return b.String()
}

// ownCredential makes the anchor update a copy of the template credential
// of its own, inserted now: anchors running at once (BenchFinishParallel)
// then touch distinct rows, as their goroutines' logins do, and on
// PostgreSQL do not queue on one row's lock.
func (x *sameTables) ownCredential() {
	if x.cred == nil {
		return
	}
	for _, t := range x.writes {
		if t.Table == "puce_credentials" && t.Updates > 0 {
			args := x.credCopy()
			x.exec(context.Background(), nil, `INSERT INTO puce_credentials (`+credCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
			x.cred = args
			return
		}
	}
}
