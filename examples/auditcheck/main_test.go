package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
)

// TestAuditcheck runs the command as cron would against the login
// example's SQLite file and its development key: two clean runs append two
// marks; then the trail is cut back to its first checkpoint with SQL (the
// newest records deleted, the partition's head moved back, the later
// checkpoint deleted), which the key alone cannot tell, and the third run
// fails with ErrAuditBroken against the kept mark and appends nothing.
func TestAuditcheck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, marks := filepath.Join(dir, "puce-login.db"), filepath.Join(dir, "marks.log")
	key := bytes.Repeat([]byte{7}, 32)
	if err := os.WriteFile(db+".dev-audit-key", []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.Open(ctx, db, sqlstore.WithAudit(identity.AuditConfig{Key: key, CheckpointEvery: 1 << 20, CheckpointInterval: -1}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	login := func(from, to int) {
		for i := from; i <= to; i++ {
			if err := s.Audit(ctx, identity.Event{Time: time.Unix(int64(i), 0), Subject: "alice", Action: "login", Result: identity.Success, Reason: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	check := func() error { return run(ctx, db, "", "", marks, 0, &out, time.Now) }
	login(1, 4)
	if err := check(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	login(5, 8)
	if err := check(); err != nil || !strings.Contains(out.String(), "everything the last mark covered") {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	// Cut back to the first checkpoint.
	for _, q := range []string{
		`DELETE FROM puce_audit_log WHERE subject = 'alice' AND seq > 4`,
		`UPDATE puce_audit_parts SET seq = 4,
			prev = (SELECT l.prev FROM puce_audit_log l WHERE l.part = puce_audit_parts.part AND l.seq = 4),
			hash = (SELECT l.hash FROM puce_audit_log l WHERE l.part = puce_audit_parts.part AND l.seq = 4)
			WHERE part = (SELECT part FROM puce_audit_log WHERE subject = 'alice' LIMIT 1)`,
		`DELETE FROM puce_audit_checkpoints WHERE seq > 1`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: key}); err != nil {
		t.Fatalf("the cut trail with the key alone: %v (the window the marks close)", err)
	}
	err = check()
	if !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("third run: %v, want ErrAuditBroken", err)
	}
	t.Log(err)
	// Without the marks: the cut trail's newest checkpoint is as old as the
	// cut, which -fresh tells of a trail the servers still write...
	later := func() time.Time { return time.Now().Add(time.Hour) }
	lost := filepath.Join(dir, "lost-marks.log")
	if err := run(ctx, db, "", "", lost, 30*time.Minute, &out, later); !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("-fresh 30m an hour after the last checkpoint: %v, want ErrAuditBroken", err)
	}
	// ...and the store that wrote the trail finds at its next checkpoint,
	// and records in the trail.
	if err := s.Checkpoint(ctx); !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("the writing store's checkpoint after the cut: %v, want ErrAuditBroken", err)
	}
	if err := run(ctx, db, "", "", lost, 30*time.Minute, &out, time.Now); !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "checkpoint 2, which this store wrote, is gone") {
		t.Fatalf("a run without the marks after the store recorded the cut: %v", err)
	}
	os.Remove(lost)
	b, _ := os.ReadFile(marks)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("%d marks kept, want the 2 of the clean runs:\n%s", n, b)
	}
	os.WriteFile(marks, append(b, "garbage\n"...), 0o600)
	if err := check(); err == nil || errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("a marks file ending in garbage: %v", err)
	}
	if err := run(ctx, filepath.Join(dir, "typo.db"), "", "", marks, 0, &out, time.Now); err == nil || errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("a database that is not there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
		t.Fatal("checking a mistyped path made a database there")
	}
	if _, err := parseRetired("a2V5@30m,notbase64@1h"); err == nil {
		t.Fatal("a retired key that is not base64 was taken")
	}
}
