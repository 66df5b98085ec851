package sqlstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
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
// costs. The read stays outside the write transaction on purpose: read,
// check and writes in one BEGIN IMMEDIATE was measured (BENCHMARKS.md,
// issue 22 third pass) and saved only the read transaction's two
// shared-memory locks, not measurably, while it would hold SQLite's one
// write lock across the factor's check (a signature; a card's OCSP fetch
// over the network) and deadlock a check that reaches the store outside
// the unit on a pool of one connection (":memory:").

const (
	unitChallengeQ = `SELECT kind, purpose, subject, origin, payload, state, txn, created_at, expires_at, consumed_at IS NOT NULL FROM puce_challenges WHERE id = ?`
	unitThrottleQ  = `SELECT failures, not_before, version FROM puce_throttle WHERE key = ?`
	unitCredsQ     = `SELECT ` + credentialColumns + ` FROM puce_credentials WHERE subject = ? AND kind = ? ORDER BY created_at, kind, id`
)

// ReadUnit implements identity.UnitStore.
func (s *Store) ReadUnit(ctx context.Context, r *identity.UnitRead) error {
	r.Found, r.Consumed, r.Ch = false, false, identity.Challenge{}
	r.ThrottleState, r.ClientState, r.Credentials = identity.ThrottleState{}, identity.ThrottleState{}, r.Credentials[:0]
	r.UnlockStates = r.UnlockStates[:0]
	for range r.Unlocks {
		r.UnlockStates = append(r.UnlockStates, identity.ThrottleState{})
	}
	if s.d.name == "postgres" {
		return s.readUnitPG(ctx, r)
	}
	return s.readUnitSQLite(ctx, r)
}

// unitReadSQLite reads a unit's state in one statement, so in one read
// transaction of SQLite's: three statements were three, each taking and
// releasing the WAL's read lock (a fifth of a TOTP verification). Each
// row is tagged by what it is; the columns are as wide as a credential's,
// the other rows padded with NULLs. A parameter left NULL (no throttle key,
// no subject) matches nothing.
const (
	unitReadSQLite = `SELECT 0, kind, purpose, subject, origin, payload, state, txn, created_at, expires_at, consumed_at IS NOT NULL, NULL
	FROM puce_challenges WHERE id = ?1
UNION ALL SELECT 1, failures, not_before, version, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM puce_throttle WHERE key = ?2
UNION ALL SELECT 2, failures, not_before, version, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM puce_throttle WHERE key = ?3
UNION ALL SELECT 3, ` + credentialColumns + ` FROM puce_credentials WHERE subject = ?4 AND kind = ?5`
	// unitReadOrder is empty: rows are told apart by their tag, and the
	// credentials sorted in Go (sortCredentials), a few rows where SQLite's
	// sorter cost 5–10% of the read.
	unitReadOrder = ``
	// unitUnlockTag is the tag of the first record of UnitRead.Unlocks.
	unitUnlockTag = 4
)

// unitReadQuery is unitReadSQLite with an arm per record of Unlocks (tags
// 4, 5, …, parameters ?6, ?7, …). The texts are few (one per count of
// Unlocks a factor asks for), so each stays prepared.
func unitReadQuery(unlocks int) string {
	if unlocks == 0 {
		return unitReadSQLite + unitReadOrder
	}
	var b strings.Builder
	b.WriteString(unitReadSQLite)
	for i := range unlocks {
		fmt.Fprintf(&b, "\nUNION ALL SELECT %d, failures, not_before, version, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM puce_throttle WHERE key = ?%d",
			unitUnlockTag+i, 6+i)
	}
	b.WriteString(unitReadOrder)
	return b.String()
}

func (s *Store) readUnitSQLite(ctx context.Context, r *identity.UnitRead) error {
	var throttle, client, subject any
	if r.Throttle.Kind != "" {
		throttle = r.Throttle.String()
	}
	if r.Client.Kind != "" {
		client = r.Client.String()
	}
	if r.Subject != "" {
		subject = string(r.Subject)
	}
	args := []any{r.Challenge[:], throttle, client, subject, string(r.Kind)}
	for _, k := range r.Unlocks {
		var key any
		if r.Subject != "" {
			key = identity.ThrottleKey{Subject: r.Subject, Kind: k}.String()
		}
		args = append(args, key)
	}
	rows, err := s.query(ctx, unitReadQuery(len(r.Unlocks)), args...)
	if err != nil {
		return fmt.Errorf("sqlstore: read the verification's state: %w", err)
	}
	defer rows.Close()
	var tag int64
	var v [11]any
	dest := []any{&tag}
	for i := range v {
		dest = append(dest, &v[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("sqlstore: read the verification's state: %w", err)
		}
		var c columns
		switch tag {
		case 0:
			r.Found = true
			r.Ch = identity.Challenge{ID: r.Challenge, Kind: identity.Kind(c.str(v[0])), Purpose: identity.Purpose(c.int(v[1])),
				Subject: identity.Subject(c.str(v[2])), Origin: c.str(v[3]), Payload: c.bytes(v[4]), State: c.bytes(v[5]),
				Transaction: c.bytes(v[6]), CreatedAt: fromMicros(c.int(v[7])), ExpiresAt: fromMicros(c.int(v[8]))}
			r.Consumed = c.int(v[9]) != 0
		case 1, 2:
			st := identity.ThrottleState{Failures: int(c.int(v[0])), NotBefore: fromMicros(c.int(v[1])), Version: c.int(v[2])}
			if tag == 1 {
				r.ThrottleState = st
			} else {
				r.ClientState = st
			}
		case 3:
			r.Credentials = append(r.Credentials, identity.Credential{Subject: identity.Subject(c.str(v[0])), Kind: identity.Kind(c.str(v[1])),
				ID: c.str(v[2]), Name: c.str(v[3]), Secret: c.bytes(v[4]), Public: c.bytes(v[5]), Counter: uint64(c.int(v[6])),
				Active: c.int(v[7]) != 0, CreatedAt: fromMicros(c.int(v[8])), LastUsedAt: fromMicros(c.int(v[9])), Revision: uint64(c.int(v[10]))})
		default:
			if i := int(tag) - unitUnlockTag; i >= 0 && i < len(r.UnlockStates) {
				r.UnlockStates[i] = identity.ThrottleState{Failures: int(c.int(v[0])), NotBefore: fromMicros(c.int(v[1])), Version: c.int(v[2])}
			}
		}
		if c.err != nil {
			return fmt.Errorf("sqlstore: read the verification's state: %w", c.err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: read the verification's state: %w", err)
	}
	sortCredentials(r.Credentials)
	return nil
}

// sortCredentials puts cs in the order Credentials returns them: by
// creation time, kind, ID.
func sortCredentials(cs []identity.Credential) {
	slices.SortFunc(cs, func(a, b identity.Credential) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// columns converts the values of an untyped scan, remembering the first
// value of an unexpected type.
type columns struct{ err error }

func (c *columns) fail(v any, want string) {
	if c.err == nil {
		c.err = fmt.Errorf("column holds %T, want %s", v, want)
	}
}

func (c *columns) int(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case nil:
		return 0
	case bool:
		if x {
			return 1
		}
		return 0
	}
	c.fail(v, "an integer")
	return 0
}

func (c *columns) str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	c.fail(v, "text")
	return ""
}

func (c *columns) bytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	case nil:
		return nil
	}
	c.fail(v, "bytes")
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
	if w.Count {
		if err := identity.ValidateKeys(w.ThrottleKey.Subject, w.ThrottleKey.Kind, ""); err != nil {
			return nil, err
		}
	}
	for i := range w.Creates {
		if err := identity.ValidateKeys(w.Creates[i].Subject, w.Creates[i].Kind, w.Creates[i].ID); err != nil {
			return nil, err
		}
		if err := identity.ValidateText("credential name", w.Creates[i].Name); err != nil {
			return nil, err
		}
	}
	// Updates are not checked: a login rewrites the credential it read
	// (a password's last use, its upgraded hash), name included, and a
	// name SQLite stored before names were checked must not lock its
	// holder out. On PostgreSQL such a name could never be stored.
	for i := range w.Events {
		if err := identity.ValidateEvent(&w.Events[i]); err != nil {
			return nil, err
		}
	}
	key := w.ThrottleKey.String()
	// A success that read no throttle record needs it still absent
	// (identity.UnitWrites.Clear). The condition rides on the unit's first
	// conditional write, so it costs no statement: the challenge's UPDATE,
	// else the first credential rewrite (a password's), else a guard of
	// its own. On PostgreSQL at READ COMMITTED the subquery sees what was
	// committed when the statement began: a failure committed after the
	// read conflicts, one still in flight is serialised after this
	// success, as its own read of no record says it is.
	absent := w.Clear && w.Prev.Version == 0
	const notThrottled = ` AND NOT EXISTS (SELECT 1 FROM puce_throttle WHERE key = ?)`
	if !w.Challenge.IsZero() {
		q, args, why := `UPDATE puce_challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL`,
			[]any{micros(w.ConsumedAt), w.Challenge[:]}, "the challenge was used meanwhile"
		if absent {
			q, args, why, absent = q+notThrottled, append(args, key), "the challenge was used, or a failure counted, meanwhile", false
		}
		out = append(out, unitWrite{q, args, why})
	}
	if absent && len(w.Updates) == 0 {
		// No write to carry the condition: a row inserted only if none is
		// there, and taken out again in the same transaction.
		out = append(out, unitWrite{`INSERT INTO puce_throttle (key, failures, not_before, version) VALUES (?, 0, 0, 0) ON CONFLICT DO NOTHING`,
			[]any{key}, "the throttle record changed meanwhile"},
			unitWrite{`DELETE FROM puce_throttle WHERE key = ? AND version = 0`, []any{key}, "the throttle record changed meanwhile"})
		absent = false
	}
	switch {
	case w.Count && w.Prev.Version == 0:
		out = append(out, unitWrite{`INSERT INTO puce_throttle (key, failures, not_before, version) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{key, w.Next.Failures, micros(w.Next.NotBefore), w.Next.Version}, "the throttle record changed meanwhile"})
	case w.Count:
		out = append(out, unitWrite{`UPDATE puce_throttle SET failures = ?, not_before = ?, version = ? WHERE key = ? AND version = ?`,
			[]any{w.Next.Failures, micros(w.Next.NotBefore), w.Next.Version, key, w.Prev.Version}, "the throttle record changed meanwhile"})
	case w.Clear && w.Prev.Version != 0:
		// Only at the version read: a failure counted since then must make
		// this success read again and be judged on it (a lock it set holds),
		// not be erased by it. On PostgreSQL at READ COMMITTED a DELETE
		// whose row another transaction updated meanwhile re-evaluates its
		// WHERE on the new row version (documentation, "Transaction
		// Isolation", Read Committed), so the condition holds across
		// instances; on SQLite the transaction holds the write lock.
		out = append(out, unitWrite{`DELETE FROM puce_throttle WHERE key = ? AND version = ?`, []any{key, w.Prev.Version},
			"the throttle record changed meanwhile"})
	}
	for _, k := range w.Resets {
		out = append(out, unitWrite{`DELETE FROM puce_throttle WHERE key = ?`, []any{k.String()}, ""})
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
		q, args, why := `UPDATE puce_credentials SET name = ?, secret = ?, public = ?, active = ?, last_used_at = ?, revision = revision + 1
		WHERE kind = ? AND id = ? AND subject = ? AND revision = ?`,
			[]any{c.Name, c.Secret, c.Public, c.Active, micros(c.LastUsedAt), c.Kind, c.ID, c.Subject, int64(c.Revision)}, "the credential changed meanwhile"
		if absent {
			q, args, why, absent = q+notThrottled, append(args, key), "the credential changed, or a failure was counted, meanwhile", false
		}
		out = append(out, unitWrite{q, args, why})
	}
	for _, ref := range w.Deletes {
		out = append(out, unitWrite{`DELETE FROM puce_credentials WHERE kind = ? AND id = ? AND subject = ?`,
			[]any{ref.Kind, ref.ID, ref.Subject}, "the credential was removed meanwhile"})
	}
	for i := range w.Creates {
		c := &w.Creates[i]
		if c.Counter > math.MaxInt64 {
			return nil, fmt.Errorf("%w: counter %d does not fit the database", identity.ErrBadInput, c.Counter)
		}
		out = append(out, unitWrite{`INSERT INTO puce_credentials (` + credentialColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`,
			[]any{c.Subject, c.Kind, c.ID, c.Name, c.Secret, c.Public, int64(c.Counter), c.Active, micros(c.CreatedAt), micros(c.LastUsedAt)},
			"a credential with this ID was created meanwhile"})
	}
	return out, nil
}

// CommitUnit implements identity.UnitStore.
func (s *Store) CommitUnit(ctx context.Context, w *identity.UnitWrites) error {
	writes, err := unitWrites(w)
	if err != nil {
		return err
	}
	if len(w.Events) > 0 {
		if err := s.canAppend(ctx); err != nil {
			return fmt.Errorf("sqlstore: unit: %w", err)
		}
	}
	for i := range w.Events {
		w.Events[i].Time = stored(w.Events[i].Time)
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
	tx, end, err := s.beginWrite(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: commit verification: %w", err)
	}
	defer end()
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
	var heads []auditchain.Head
	for _, e := range events {
		h, err := s.auditInTx(ctx, tx, e)
		if err != nil {
			return err
		}
		heads = append(heads, h...)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit verification: %w", err)
	}
	s.heads.committed(heads)
	s.watch.appended(s.now(), heads)
	return nil
}
