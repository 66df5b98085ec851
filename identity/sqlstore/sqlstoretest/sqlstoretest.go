// Package sqlstoretest opens throwaway sqlstore databases for tests: a SQLite
// file in the test's temporary directory, or a fresh PostgreSQL schema on the
// server named by PUCE_POSTGRES_DSN (which `make test` starts and sets).
//
// Without PUCE_POSTGRES_DSN the PostgreSQL tests skip with a message saying
// so; under CI=true they fail instead, because CI must not pass on tests that
// did not run.
//
// CountingSQLite and CountingPostgres open the same stores through a
// counting database/sql driver, whose Counter tells how many statements,
// round trips and commits an operation cost (count.go says exactly what is
// counted and why); BenchFinish and BenchBare put those counts beside a
// factor's Finish and its bare-transaction anchor in a benchmark. This is
// test support: applications never open a store this way.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity/sqlstore"
)

// SQLite opens a new SQLite store in a file under t.TempDir and closes it
// when the test ends.
func SQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	return SQLiteAt(t, filepath.Join(t.TempDir(), "puce.db"))
}

// SQLiteAt opens (another handle on) the SQLite store at path.
func SQLiteAt(t testing.TB, path string, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresDSN returns the server DSN from PUCE_POSTGRES_DSN, skipping the
// test when it is unset (failing under CI).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("PUCE_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PUCE_POSTGRES_DSN is unset under CI: run the tests with `make test`, which starts a throwaway PostgreSQL")
		}
		t.Skip("SKIPPING PostgreSQL test: PUCE_POSTGRES_DSN is unset (`make test` starts a throwaway PostgreSQL and sets it)")
	}
	return dsn
}

// Postgres creates a fresh schema on the test server and opens a store on
// it. second opens another store — its own connection pool, as another
// server instance would have — on the same schema. The schema is dropped when
// the test ends.
func Postgres(t testing.TB, opts ...sqlstore.Option) (first *sqlstore.Store, second func() *sqlstore.Store) {
	t.Helper()
	dsn := SchemaDSN(t, PostgresDSN(t))
	open := func() *sqlstore.Store {
		t.Helper()
		s, err := sqlstore.OpenPostgres(context.Background(), dsn, opts...)
		if err != nil {
			t.Fatalf("open PostgreSQL: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open
}

// SchemaDSN creates a new schema on the server and returns a DSN whose
// connections use it. The schema is dropped when the test ends.
func SchemaDSN(t testing.TB, dsn string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "puce_test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	if _, err := admin.ExecContext(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema on PostgreSQL at %s: %v", redact(dsn), err)
	}
	t.Cleanup(func() {
		admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	})
	return WithSearchPath(dsn, schema)
}

// WithSearchPath adds a search_path run-time parameter to a DSN in either of
// the forms pgx accepts. pgx reads both as libpq does: a URL's query is
// %XX-decoded only, so a space must not be the '+' url.Values makes of it,
// and a key=value is quoted, with \ and ' escaped (TestWithSearchPath).
func WithSearchPath(dsn, schema string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		// Encode escapes a '+' of the value as %2B: every '+' left is a space.
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return u.String()
	}
	quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(schema)
	return strings.TrimSpace(dsn) + " search_path='" + quoted + "'"
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return "(DSN)"
}
