package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestMain lets the test binary be the login-server process the load test
// starts: it runs itself again with -serve, as the command does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		if err := serve(); err != nil {
			os.Stderr.WriteString("loadtest: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// rowRE is a row of the -instances table, with numbers in every column
// (the CPU figures too, this being Linux).
var rowRE = regexp.MustCompile(`^\| (SQLite|PostgreSQL) \| (\d+) \| (\d+) \| \d+ \| [0-9.]+[µm]?s \| [0-9.]+[µm]?s \| [0-9.]+ \| \d+ \| \d+ \| (\d+|–) \| \d+ \|$`)

// TestInstancesSmoke runs the multi-process measurement briefly: server
// processes start, users log in over HTTP through them, every
// verification is accepted, and the trail they wrote verifies under the
// checkpoint key (runInstances fails otherwise). It keeps the load test
// working as the login server changes; the figures are for BENCHMARKS.md,
// not asserted.
func TestInstancesSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts login-server processes")
	}
	run := func(t *testing.T, dsn string, counts []int) {
		rows, err := runInstances(dsn, counts, 2*time.Second, 60, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(counts) {
			t.Fatalf("%d rows for %d process counts", len(rows), len(counts))
		}
		for _, r := range rows {
			m := rowRE.FindStringSubmatch(r)
			if m == nil {
				t.Fatalf("malformed row %q", r)
			}
			if m[3] == "0" || (m[1] == "SQLite") != (m[4] == "–") {
				t.Fatalf("row %q: no verifications, or the database column is wrong for the store", r)
			}
			t.Log(strings.TrimSpace(r))
		}
	}
	t.Run("SQLite", func(t *testing.T) { run(t, "sqlite", []int{1}) })
	t.Run("Postgres", func(t *testing.T) {
		dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
		// Through the relay (-db-rtt), with clients growing with the
		// processes (-clients-per-process).
		dbRTT, clientsPerProcess = time.Millisecond, 2
		defer func() { dbRTT, clientsPerProcess = 0, 0 }()
		run(t, dsn, []int{1, 2})
	})
}
