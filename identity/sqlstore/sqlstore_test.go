package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

func TestSQLite(t *testing.T) {
	paths := map[identity.Store]string{}
	identitytest.RunStore(t, identitytest.StoreFactory{
		Open: func(t *testing.T) identity.Store {
			p := filepath.Join(t.TempDir(), "puce.db")
			s := sqlstoretest.SQLiteAt(t, p)
			paths[s] = p
			return s
		},
		// A second handle on the same file: its own connections, as a second
		// process would have.
		Second: func(t *testing.T, s identity.Store) identity.Store {
			return sqlstoretest.SQLiteAt(t, paths[s])
		},
		OpenAudit: func(t *testing.T, c identity.AuditConfig) identity.Store {
			p := filepath.Join(t.TempDir(), "puce.db")
			s := sqlstoretest.SQLiteAt(t, p, sqlstore.WithAudit(c))
			paths[s] = p
			return s
		},
		AuditHandle: func(t *testing.T, s identity.Store, c identity.AuditConfig, clock identity.Clock) identity.Store {
			return sqlstoretest.SQLiteAt(t, paths[s], sqlstore.WithAudit(c), sqlstore.WithClock(clock))
		},
		TamperAudit: tamperAudit,
		SeedLegacy:  seedLegacy,
		// At rest, SQLite is its files: the database and its write-ahead log.
		Dump: func(t *testing.T, s identity.Store) []byte {
			var all []byte
			for _, suffix := range []string{"", "-wal"} {
				b, err := os.ReadFile(paths[s] + suffix)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			return all
		},
	})
}

func TestPostgres(t *testing.T) {
	seconds := map[identity.Store]func() *sqlstore.Store{}
	dsns := map[identity.Store]string{}
	var version string
	identitytest.RunStore(t, identitytest.StoreFactory{
		Open: func(t *testing.T) identity.Store {
			s, second := sqlstoretest.Postgres(t)
			seconds[s] = second
			if version == "" {
				s.DB().QueryRow(`SHOW server_version`).Scan(&version)
			}
			return s
		},
		Second: func(t *testing.T, s identity.Store) identity.Store { return seconds[s]() },
		OpenAudit: func(t *testing.T, c identity.AuditConfig) identity.Store {
			dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
			s := openPostgres(t, dsn, sqlstore.WithAudit(c))
			dsns[s] = dsn
			return s
		},
		AuditHandle: func(t *testing.T, s identity.Store, c identity.AuditConfig, clock identity.Clock) identity.Store {
			return openPostgres(t, dsns[s], sqlstore.WithAudit(c), sqlstore.WithClock(clock))
		},
		TamperAudit: tamperAudit,
		SeedLegacy:  seedLegacy,
		Dump:        pgDump,
	})
	if version != "" && !t.Failed() {
		t.Logf("puce: store suite passed against PostgreSQL %s (two connection pools per race)", version)
	}
}

// openPostgres opens a store on dsn, closed when the test ends.
func openPostgres(t *testing.T, dsn string, opts ...sqlstore.Option) *sqlstore.Store {
	s, err := sqlstore.OpenPostgres(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pgDump dumps the store's schema with pg_dump, as an operator's backup
// would; bytea columns come out hex-encoded, which the suite also searches.
func pgDump(t *testing.T, s identity.Store) []byte {
	db := s.(*sqlstore.Store).DB()
	var schema string
	if err := db.QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	pgdump, err := exec.LookPath("pg_dump")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(matches) == 0 {
			t.Fatal("pg_dump not found: install postgresql-client")
		}
		pgdump = matches[len(matches)-1]
	}
	dsn := strings.Split(os.Getenv("PUCE_POSTGRES_DSN"), "?")[0] + "?sslmode=disable"
	out, err := exec.Command(pgdump, "--dbname="+dsn, "--schema="+schema, "--data-only").Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "puce.db")
	a := sqlstoretest.SQLiteAt(t, p)
	b := sqlstoretest.SQLiteAt(t, p) // opening again must not re-run migrations
	for _, s := range []*sqlstore.Store{a, b} {
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != 7 {
			t.Fatalf("schema version %d, %v", v, err)
		}
	}
	var n int
	if err := a.DB().QueryRow(`SELECT COUNT(*) FROM puce_schema`).Scan(&n); err != nil || n != 7 {
		t.Fatalf("%d migration records, %v", n, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "puce.db")
	a := sqlstoretest.SQLiteAt(t, p)
	if _, err := a.DB().Exec(`INSERT INTO puce_schema (version, applied_at) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := sqlstore.OpenSQLite(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a database with a newer schema: %v", err)
	}
}

func TestCounterBeyondInt64(t *testing.T) {
	ctx := context.Background()
	s := sqlstoretest.SQLite(t)
	c := &identity.Credential{Subject: "a", Kind: identity.KindTOTP, ID: "x", CreatedAt: identitytest.Epoch()}
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := s.AdvanceCounter(ctx, c.Ref(), 1<<63, identitytest.Epoch())
	if !bytes.Contains([]byte(err.Error()), []byte("does not fit")) {
		t.Fatalf("counter 2^63: %v", err)
	}
}

// The store keeps prepared statements: a call after Close must fail with an
// error, not panic or run on a statement that outlived its database.
func TestUseAfterClose(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "puce.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := &identity.Credential{Subject: "a", Kind: identity.KindTOTP, ID: "x", CreatedAt: identitytest.Epoch()}
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, identity.Event{Time: identitytest.Epoch(), Subject: "a", Action: "login", Result: identity.Success}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Credentials(ctx, "a", identity.KindTOTP); err == nil {
		t.Error("Credentials after Close: no error")
	}
	if err := s.AdvanceCounter(ctx, c.Ref(), 5, identitytest.Epoch()); err == nil {
		t.Error("AdvanceCounter after Close: no error")
	}
	if err := s.Audit(ctx, identity.Event{Time: identitytest.Epoch(), Subject: "a", Action: "login", Result: identity.Success}); err == nil {
		t.Error("Audit after Close: no error")
	}
}

// A database made by the first schema gains credential revisions on upgrade:
// its rows start at revision 1 and updates check it from then on.
func TestUpgradeToRevisions(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "puce.db")
	old := sqlstoretest.SQLiteAt(t, p)
	c := &identity.Credential{Subject: "a", Kind: identity.KindTOTP, ID: "x", Name: "phone", CreatedAt: identitytest.Epoch()}
	if err := old.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Back to schema 1, as an older puce left it.
	for _, q := range []string{`ALTER TABLE puce_credentials DROP COLUMN revision`, `DROP TABLE puce_sessions`, `ALTER TABLE puce_challenges DROP COLUMN txn`,
		`DROP TABLE puce_audit_log`, `DROP TABLE puce_audit_parts`, `DROP TABLE puce_audit_checkpoints`,
		`DELETE FROM puce_schema WHERE version >= 2`} {
		if _, err := old.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s := sqlstoretest.SQLiteAt(t, p)
	if v, err := s.SchemaVersion(ctx); err != nil || v != 7 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	got, err := s.Credential(ctx, c.Ref())
	if err != nil || got.Revision != 1 || got.Name != "phone" {
		t.Fatalf("after upgrade: %+v, %v", got, err)
	}
	stale := *got
	got.Name = "laptop"
	if err := s.UpdateCredential(ctx, got); err != nil || got.Revision != 2 {
		t.Fatalf("update: revision %d, %v", got.Revision, err)
	}
	stale.Name = "tablet"
	if err := s.UpdateCredential(ctx, &stale); !errors.Is(err, identity.ErrChanged) {
		t.Fatalf("stale update: %v", err)
	}
	// The same upgrade brings the sessions table.
	r := &identity.SessionRecord{ID: identity.SessionIDOf([]byte("t")), CreatedAt: identitytest.Epoch(), ExpiresAt: identitytest.Epoch().Add(time.Minute)}
	if err := s.CreateSession(ctx, r); err != nil {
		t.Fatalf("session after upgrade: %v", err)
	}
}

// A file SQLite cannot open is named in the error, so that the operator
// sees which -db setting to fix.
func TestSQLiteOpenErrorNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "bank.db")
	_, err := sqlstore.OpenSQLite(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenSQLite(%q): %v", path, err)
	}
}
