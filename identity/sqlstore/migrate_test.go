package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestConcurrentFirstOpen starts several instances at once on an empty
// database, as a deploy of many servers does: each must open, and the
// migrations run once. CREATE TABLE IF NOT EXISTS is not safe against a
// concurrent creation of the same table on PostgreSQL (two sessions can
// both find it absent, and the second fails on the catalog's unique
// index), so the schema table is created under the migration lock.
func TestConcurrentFirstOpen(t *testing.T) {
	ctx := context.Background()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			if engine == "postgres" {
				concurrentFirstOpen(ctx, t, sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t)))
				return
			}
			// A new SQLite file's switch to WAL meets SQLITE_BUSY in
			// about one round in twenty without firstConnect's retries:
			// enough rounds to see it.
			for round := range 30 {
				concurrentFirstOpen(ctx, t, filepath.Join(t.TempDir(), fmt.Sprintf("puce-%d.db", round)))
				if t.Failed() {
					return
				}
			}
		})
	}
}

func concurrentFirstOpen(ctx context.Context, t *testing.T, dsn string) {
	t.Helper()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*sqlstore.Store, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlstore.Open(ctx, dsn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
			continue
		}
		stores[i].Close()
	}
	if t.Failed() {
		return
	}
	s, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rows, versions int
	if err := s.DB().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM puce_schema`).Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != versions {
		t.Fatalf("%d migration records for %d versions", rows, versions)
	}
}
