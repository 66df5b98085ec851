package sqlstore_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// ph rewrites ? placeholders for the store's engine.
func ph(s *sqlstore.Store, q string) string {
	if s.Engine() != "postgres" {
		return q
	}
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(n), 10)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// readTrail reads every audit table as an attacker with database access
// would.
func readTrail(t *testing.T, s *sqlstore.Store) *auditchain.Trail {
	db := s.DB()
	tr := &auditchain.Trail{}
	records := func(q string) []identity.AuditRecord {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []identity.AuditRecord
		for rows.Next() {
			var r identity.AuditRecord
			var tm int64
			if err := rows.Scan(&r.Partition, &r.Seq, &tm, &r.Event.Subject, &r.Event.Kind, &r.Event.CredentialID, &r.Event.Action,
				&r.Event.Result, &r.Event.RemoteAddr, &r.Event.Reason, &r.Prev, &r.Hash, &r.Nonce, &r.MAC); err != nil {
				t.Fatal(err)
			}
			r.Event.Time = fromMicros(tm)
			out = append(out, r)
		}
		return out
	}
	cols := `seq, time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash`
	tr.Legacy = records(`SELECT -1, ` + cols + `, NULL, NULL FROM puce_audit ORDER BY seq`)
	tr.Records = records(`SELECT part, ` + cols + `, nonce, mac FROM puce_audit_log ORDER BY part, seq`)
	tr.LegacyHead.Partition = auditchain.LegacyPartition
	if err := db.QueryRow(`SELECT seq, hash FROM puce_audit_head`).Scan(&tr.LegacyHead.Seq, &tr.LegacyHead.Hash); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT part, seq, hash FROM puce_audit_parts ORDER BY part`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h auditchain.Head
		if err := rows.Scan(&h.Partition, &h.Seq, &h.Hash); err != nil {
			t.Fatal(err)
		}
		tr.Heads = append(tr.Heads, h)
	}
	rows.Close()
	rows, err = db.Query(`SELECT seq, time, legacy_seq, legacy_hash, heads, prev, mac FROM puce_audit_checkpoints ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		c := auditchain.Checkpoint{Legacy: auditchain.Head{Partition: auditchain.LegacyPartition}}
		var tm int64
		var heads []byte
		if err := rows.Scan(&c.Seq, &tm, &c.Legacy.Seq, &c.Legacy.Hash, &heads, &c.Prev, &c.MAC); err != nil {
			t.Fatal(err)
		}
		c.Time = fromMicros(tm)
		if c.Heads, err = auditchain.DecodeHeads(heads); err != nil {
			t.Fatal(err)
		}
		tr.Checkpoints = append(tr.Checkpoints, c)
	}
	rows.Close()
	return tr
}

// writeTrail replaces every audit table's rows with tr's.
func writeTrail(t *testing.T, s *sqlstore.Store, tr *auditchain.Trail) {
	tx, err := s.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if _, err := tx.Exec(ph(s, q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, table := range []string{"puce_audit", "puce_audit_log", "puce_audit_parts", "puce_audit_checkpoints"} {
		exec(`DELETE FROM ` + table)
	}
	cols := `time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash`
	for _, r := range tr.Legacy {
		exec(`INSERT INTO puce_audit (seq, `+cols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Seq, r.Event.Time.UnixMicro(), r.Event.Subject,
			r.Event.Kind, r.Event.CredentialID, r.Event.Action, r.Event.Result, r.Event.RemoteAddr, r.Event.Reason, r.Prev, r.Hash)
	}
	for _, r := range tr.Records {
		exec(`INSERT INTO puce_audit_log (part, seq, `+cols+`, nonce, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Partition, r.Seq, r.Event.Time.UnixMicro(), r.Event.Subject,
			r.Event.Kind, r.Event.CredentialID, r.Event.Action, r.Event.Result, r.Event.RemoteAddr, r.Event.Reason, r.Prev, r.Hash, r.Nonce, r.MAC)
	}
	exec(`UPDATE puce_audit_head SET seq = ?, hash = ?`, tr.LegacyHead.Seq, tr.LegacyHead.Hash)
	for _, h := range tr.Heads {
		exec(`INSERT INTO puce_audit_parts (part, seq, prev, hash) VALUES (?, ?, ?, ?)`, h.Partition, h.Seq, auditchain.Zero(), h.Hash)
	}
	for _, c := range tr.Checkpoints {
		exec(`INSERT INTO puce_audit_checkpoints (seq, time, legacy_seq, legacy_hash, heads, prev, mac) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.Seq, c.Time.UnixMicro(), c.Legacy.Seq, c.Legacy.Hash, auditchain.EncodeHeads(c.Heads), c.Prev, c.MAC)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func tamperAudit(t *testing.T, st identity.Store, f func(*auditchain.Trail)) {
	s := st.(*sqlstore.Store)
	tr := readTrail(t, s)
	f(tr)
	writeTrail(t, s, tr)
}

// seedLegacy writes a trail of the single chain into a store that has none
// and restarts its partitions from that chain's head, as the first start
// after an upgrade does (TestAuditMigration runs the upgrade itself).
func seedLegacy(t *testing.T, st identity.Store, records []identity.AuditRecord, head auditchain.Head) {
	s := st.(*sqlstore.Store)
	tr := readTrail(t, s)
	tr.Legacy, tr.LegacyHead = records, head
	for i := range tr.Heads {
		tr.Heads[i].Hash = auditchain.Genesis(tr.Heads[i].Partition, head.Hash)
	}
	writeTrail(t, s, tr)
}

// TestAuditMigration upgrades a database whose trail is the single chain
// of schema version 4: its records stay verifiable, new events go to the
// partitions, and the first checkpoint seals the old chain too.
func TestAuditMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "puce.db")
	s := sqlstoretest.SQLiteAt(t, path)
	// Back to version 4, as an older puce left it (5 and 6 undone), with two records.
	db := s.DB()
	for _, q := range []string{`DROP TABLE puce_audit_log`, `DROP TABLE puce_audit_parts`, `DROP TABLE puce_audit_checkpoints`, `DROP INDEX puce_sessions_subject`, `DELETE FROM puce_schema WHERE version >= 5`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	prev := auditchain.Zero()
	for i := int64(1); i <= 2; i++ {
		e := identity.Event{Time: fromMicros(1_700_000_000_000_000 + i), Subject: "alice", Kind: identity.KindTOTP, Action: "login", Result: identity.Success}
		h := auditchain.HashV1(prev, i, e)
		if _, err := db.Exec(`INSERT INTO puce_audit (seq, time, subject, kind, credential_id, action, result, remote_addr, reason, prev, hash)
			VALUES (?, ?, ?, ?, '', ?, ?, '', '', ?, ?)`, i, e.Time.UnixMicro(), e.Subject, e.Kind, e.Action, e.Result, prev, h); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE puce_audit_head SET seq = ?, hash = ?`, i, h); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
	s.Close()

	key := make([]byte, 32)
	s = sqlstoretest.SQLiteAt(t, path, sqlstore.WithAudit(identity.AuditConfig{Key: key}))
	if v, err := s.SchemaVersion(ctx); err != nil || v != 7 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: key}); err != nil {
		t.Fatalf("the old chain after the upgrade: %v", err)
	}
	if err := s.Audit(ctx, identity.Event{Time: fromMicros(1_700_000_001_000_000), Subject: "alice", Action: "login", Result: identity.Success}); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: key}); err != nil {
		t.Fatalf("old chain and new partitions: %v", err)
	}
	recs, _ := s.AuditEvents(ctx, "alice", 0)
	if len(recs) != 3 || recs[2].Partition != auditchain.LegacyPartition || recs[2].Seq != 1 || recs[0].Partition < 0 {
		t.Fatalf("events across the upgrade: %+v", recs)
	}
	// An edit of an old record is caught as before.
	if _, err := s.DB().Exec(`UPDATE puce_audit SET result = 'failure' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: key}); err == nil {
		t.Fatal("an edited pre-upgrade record verified")
	}
}

func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }

// TestAuditHeadCacheTwoHandles interleaves appends to one partition from
// two handles on one SQLite file, as two processes would: each handle's
// remembered head goes stale whenever the other appends, and its next
// append must chain to the stored head, not the remembered one. A head
// rewritten behind both handles' backs (here, rolled back by one record)
// must not be chained over either: the cache is a hint, the stored head
// decides, and the verification then reports the rollback.
func TestAuditHeadCacheTwoHandles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "puce.db")
	key := make([]byte, 32)
	a := sqlstoretest.SQLiteAt(t, path, sqlstore.WithAudit(identity.AuditConfig{Key: key}))
	b := sqlstoretest.SQLiteAt(t, path, sqlstore.WithAudit(identity.AuditConfig{Key: key}))
	ev := func(i int) identity.Event {
		return identity.Event{Time: fromMicros(1_700_000_000_000_000 + int64(i)), Subject: "alice", Kind: identity.KindTOTP, Action: "login", Result: identity.Success}
	}
	for i, s := range []*sqlstore.Store{a, a, b, a, b, b, a} {
		if err := s.Audit(ctx, ev(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if _, err := a.VerifyAudit(ctx, identity.AuditKeys{Current: key}); err != nil {
		t.Fatalf("interleaved appends: %v", err)
	}
	recs, err := a.AuditEvents(ctx, "alice", 0)
	if err != nil || len(recs) != 7 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	// Roll the head back by one record (the record stays): a's remembered
	// head no longer matches, so a reads the stored one and chains to it.
	p := recs[0].Partition
	if _, err := a.DB().Exec(`UPDATE puce_audit_parts SET seq = ?, hash = ?, prev = ? WHERE part = ?`, recs[1].Seq, recs[1].Hash, recs[1].Prev, p); err != nil {
		t.Fatal(err)
	}
	if err := a.Audit(ctx, ev(8)); err == nil {
		// The stored head is at seq 6: the new record takes seq 7, which
		// the log holds already (UNIQUE (part, seq)).
		t.Fatal("an append chained over a rolled-back head")
	}
}
