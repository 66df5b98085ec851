package totp_test

import (
	"path/filepath"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// The factors on the SQL stores: the conformance suite, and the races on one
// code between server instances that share a database.

func sqliteStore(t *testing.T) identity.Store { return sqlstoretest.SQLite(t) }

func postgresStore(t *testing.T) identity.Store {
	s, _ := sqlstoretest.Postgres(t)
	return s
}

func TestConformanceSQLite(t *testing.T) {
	t.Run("TOTP", func(t *testing.T) { identitytest.Run(t, totpHarness(sqliteStore)) })
	t.Run("Recovery", func(t *testing.T) { identitytest.Run(t, recoveryHarness(sqliteStore)) })
}

func TestConformancePostgres(t *testing.T) {
	sqlstoretest.PostgresDSN(t) // skip (or fail under CI) once, not per subtest
	t.Run("TOTP", func(t *testing.T) { identitytest.Run(t, totpHarness(postgresStore)) })
	t.Run("Recovery", func(t *testing.T) { identitytest.Run(t, recoveryHarness(postgresStore)) })
}

// Two handles on one SQLite file stand for two processes on one machine.
func TestRaceOneCodeSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "puce.db")
	raceOneCode(t, 16, sqlstoretest.SQLiteAt(t, path), sqlstoretest.SQLiteAt(t, path))
}

// Two connection pools on one PostgreSQL schema stand for two server
// instances: of 32 requests carrying one code, exactly one logs in.
func TestRaceOneCodePostgres(t *testing.T) {
	first, second := sqlstoretest.Postgres(t)
	raceOneCode(t, 32, first, second())
}

func TestRecoveryRacePostgres(t *testing.T) {
	first, second := sqlstoretest.Postgres(t)
	raceRecovery(t, 32, first, second())
}

func TestRFCVectorsSQLite(t *testing.T) {
	// Step 666666666 (T = 20000000000) and step 0 go through the database's
	// counter column as well.
	e := newEnv(t, sqlstoretest.SQLite(t))
	c := importURI(t, e, "rfc", rfc6238Seeds["SHA1"], "SHA1", 8)
	_ = c
	for _, v := range rfc6238Table {
		e.clock.Set(unix(v.unix))
		if _, err := e.login(t, "rfc", v.sha1); err != nil {
			t.Fatalf("T=%d: %v", v.unix, err)
		}
	}
}
