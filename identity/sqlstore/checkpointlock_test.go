package sqlstore_test

import (
	"context"
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
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock(7577656366)`); err != nil {
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
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock(7577656366)`); err != nil {
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
