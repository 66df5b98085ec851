package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestOpenCloseLeavesNoGoroutine opens and closes stores many times, each
// with its goroutines running (WAL checkpoints on SQLite files, timed and
// counted audit checkpoints) and written through, and Opens that fail:
// afterwards as many goroutines run as before. A store's goroutines are
// its own to end; a server that reopens its store (a reload, a tenant's
// store per request) must not gather them.
func TestOpenCloseLeavesNoGoroutine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	audit := sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, CheckpointInterval: time.Second, CheckpointEvery: 10})
	opens := map[string]func() (*sqlstore.Store, error){
		"file":   func() (*sqlstore.Store, error) { return sqlstore.OpenSQLite(ctx, filepath.Join(dir, "leak.db"), audit) },
		"memory": func() (*sqlstore.Store, error) { return sqlstore.OpenSQLite(ctx, ":memory:", audit) },
	}
	if os.Getenv("PUCE_POSTGRES_DSN") != "" {
		dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
		opens["postgres"] = func() (*sqlstore.Store, error) { return sqlstore.OpenPostgres(ctx, dsn, audit) }
	}
	// Goroutines a closed database/sql pool ends on its own (its
	// connection opener, a cleaner) may take a moment to go.
	settle := func(want int) int {
		n := runtime.NumGoroutine()
		for deadline := time.Now().Add(2 * time.Second); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
			time.Sleep(10 * time.Millisecond)
		}
		return n
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			before := settle(0)
			for range 10 {
				s, err := open()
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now()
				for range 2*10 + 1 {
					if err := s.Audit(ctx, identity.Event{Time: now, Subject: "leak", Action: "login", Result: identity.Success}); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "leak.db"), audit, sqlstore.WithPool(0)); err == nil {
				t.Fatal("WithPool(0) opened")
			}
			if after := settle(before); after > before {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before, %d after 10 stores opened and closed:\n%s", before, after, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}
