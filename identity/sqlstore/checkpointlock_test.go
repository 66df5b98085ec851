package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestCountedCheckpointsBesideLogins: the checkpoint CheckpointEvery
// appends call for is written beside the logins, not in one of them.
// Whoever can reach PostgreSQL can hold the checkpoint lock (it is an
// advisory lock any session may take); while one does, logins go on, and
// once it is let go the store writes the checkpoint they asked for.
func TestCountedCheckpointsBesideLogins(t *testing.T) {
	ctx := context.Background()
	dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
	// Ticks an hour apart: only the count asks for checkpoints here.
	s := openPostgres(t, dsn, sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, Partitions: 4, CheckpointEvery: 5, CheckpointInterval: time.Hour}))
	checkpoints := func() (n int) {
		t.Helper()
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := checkpoints() // the one written at Open, on a new trail

	holder, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, sqlstore.CheckpointLockSQL("pg_advisory_lock")); err != nil {
		t.Fatal(err)
	}
	// A session's lock outlives Conn.Close, which keeps the session in
	// the pool: let it go however the test ends.
	defer holder.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`)
	done := make(chan error, 1)
	go func() {
		for i := range 20 {
			e := identity.Event{Time: time.Now(), Subject: identity.Subject(fmt.Sprintf("user%d", i%3)), Action: "login", Result: identity.Success}
			if err := s.Audit(ctx, e); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		// Not a speed limit: twenty appends take milliseconds, and the
		// lock is held for ever.
		t.Fatal("logins waited for the checkpoint lock another session holds")
	}
	if n := checkpoints(); n != before {
		t.Fatalf("%d checkpoints written while another session held the lock", n-before)
	}
	if _, err := holder.ExecContext(ctx, sqlstore.CheckpointLockSQL("pg_advisory_unlock")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); checkpoints() == before; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint once the lock was let go")
		}
	}
	if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey}); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaLocksApart: stores of two schemas in one PostgreSQL database
// (one per tenant, say) do not queue behind each other's migrations and
// checkpoints, which with one database-wide advisory lock they did; in one
// schema the locks still exclude.
func TestSchemaLocksApart(t *testing.T) {
	ctx := context.Background()
	base := sqlstoretest.PostgresDSN(t)
	dsnA, dsnB := sqlstoretest.SchemaDSN(t, base), sqlstoretest.SchemaDSN(t, base)
	a := openPostgres(t, dsnA, sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, CheckpointInterval: -1}))
	holder, err := a.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	for _, q := range []string{sqlstore.MigrationLockSQL("pg_advisory_lock"), sqlstore.CheckpointLockSQL("pg_advisory_lock")} {
		if _, err := holder.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	defer holder.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`)

	// Schema B: a new store migrates and checkpoints while A's locks are
	// held. Bounded only so that a regression fails instead of hanging.
	bounded, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := sqlstore.OpenPostgres(bounded, dsnB, sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, CheckpointInterval: -1}))
	if err != nil {
		t.Fatalf("schema B waited for schema A's migration lock: %v", err)
	}
	defer b.Close()
	if err := b.Audit(bounded, identity.Event{Time: time.Now(), Subject: "bob", Action: "login", Result: identity.Success}); err != nil {
		t.Fatal(err)
	}
	if err := b.Checkpoint(bounded); err != nil {
		t.Fatalf("schema B waited for schema A's checkpoint lock: %v", err)
	}

	// Schema A: its own checkpoint waits for the lock held on A.
	if err := a.Audit(ctx, identity.Event{Time: time.Now(), Subject: "alice", Action: "login", Result: identity.Success}); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if err := a.Checkpoint(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("schema A's checkpoint with its lock held elsewhere: %v, want it to wait until the deadline", err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		t.Fatal(err)
	}
	if err := a.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sqlstore.Store{a, b} {
		if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey}); err != nil {
			t.Fatal(err)
		}
	}
}
