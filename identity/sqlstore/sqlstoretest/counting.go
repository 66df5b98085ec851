package sqlstoretest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/internal/sqlhook"
)

// CountingSQLite is SQLite through the counting driver: a new store in a
// file under t.TempDir, and the counter of its statements, round trips and
// commits (see Counts). The counter starts after the migrations, at zero.
func CountingSQLite(t testing.TB) (*sqlstore.Store, *Counter) {
	t.Helper()
	return CountingSQLiteAt(t, filepath.Join(t.TempDir(), "puce.db"))
}

// CountingSQLiteAt opens (another handle on) the SQLite store at path
// through the counting driver, with opts.
func CountingSQLiteAt(t testing.TB, path string, opts ...sqlstore.Option) (*sqlstore.Store, *Counter) {
	t.Helper()
	c := new(Counter)
	s, err := sqlstore.OpenSQLite(sqlhook.With(context.Background(), countingOpener(c)), path, opts...)
	if err != nil {
		t.Fatalf("open SQLite through the counting driver: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	c.Reset()
	return s, c
}

// CountingSQLiteDurable is CountingSQLite with WithDurableCommits: an
// fsync per commit, in the store and in the anchors alike.
func CountingSQLiteDurable(t testing.TB) (*sqlstore.Store, *Counter) {
	t.Helper()
	return CountingSQLiteAt(t, filepath.Join(t.TempDir(), "puce.db"), sqlstore.WithDurableCommits())
}

// CountingPostgres is PostgreSQL through the counting driver, on a fresh
// schema of the server named by PUCE_POSTGRES_DSN (skipping loudly without
// it, as Postgres does). Its counter also counts round trips on the socket
// (Counts.WireRoundTrips).
func CountingPostgres(t testing.TB) (*sqlstore.Store, *Counter) {
	t.Helper()
	dsn := SchemaDSN(t, PostgresDSN(t))
	c := &Counter{wire: true}
	s, err := sqlstore.OpenPostgres(sqlhook.With(context.Background(), countingOpener(c)), dsn)
	if err != nil {
		t.Fatalf("open PostgreSQL through the counting driver: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	c.Reset()
	return s, c
}

// countingOpener opens the store's database through the real driver wrapped
// in the counting one; for pgx it also dials through a counted socket.
func countingOpener(c *Counter) sqlhook.Opener {
	return func(name, dsn string) (*sql.DB, error) {
		var inner driver.Connector
		if name == "pgx" {
			cfg, err := pgx.ParseConfig(dsn)
			if err != nil {
				return nil, err
			}
			dial := cfg.DialFunc
			cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &wireConn{Conn: conn, c: c}, nil
			}
			inner = stdlib.GetConnector(*cfg)
		} else {
			// sql.Open connects to nothing: it only finds the registered
			// driver, which is what is wrapped.
			db, err := sql.Open(name, "")
			if err != nil {
				return nil, err
			}
			d := db.Driver()
			db.Close()
			if dc, ok := d.(driver.DriverContext); ok {
				if inner, err = dc.OpenConnector(dsn); err != nil {
					return nil, fmt.Errorf("sqlstoretest: %s connector: %w", name, err)
				}
			} else {
				inner = dsnConnector{d: d, dsn: dsn}
			}
		}
		return sql.OpenDB(&connector{inner: inner, c: c}), nil
	}
}
