package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestVerifyAuditBesideAWriter verifies a SQLite trail while another
// process holds the write lock (here a connection of its own in the middle
// of a write transaction, as a second server instance's login is): the
// verification reads the snapshot the write-ahead log gives every reader
// and needs no lock a writer holds ("Write-Ahead Logging", Concurrency:
// readers do not block writers and a writer does not block readers). It
// used to begin with BEGIN IMMEDIATE, which queued it behind every write
// of every process and, once it ran, stopped them all for as long as a
// large trail took to verify.
func TestVerifyAuditBesideAWriter(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "puce.db")
	s := sqlstoretest.SQLiteAt(t, p)
	for i := range 5 {
		if err := s.Audit(ctx, identity.Event{Time: identitytest.Epoch(), Subject: identity.Subject(fmt.Sprint("user", i)), Action: "login", Result: identity.Success}); err != nil {
			t.Fatal(err)
		}
	}
	other, err := sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)
	if _, err := conn.ExecContext(ctx, `DELETE FROM puce_throttle`); err != nil {
		t.Fatal(err)
	}
	// Bounded, so that a verification that waits for the lock fails the
	// test instead of hanging it; one that does not wait never comes near.
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.VerifyAudit(vctx, identity.AuditKeys{}); err != nil {
		t.Fatalf("verify while another connection writes: %v", err)
	}
}
