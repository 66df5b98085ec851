package sqlstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

func benchChallenge(b *testing.B, s identity.Store) {
	ctx := context.Background()
	c := &identity.Services{Store: s, PurgeEvery: -1}
	req := identity.Request{Subject: "alice", Origin: "https://bank.example"}
	payload := make([]byte, 32)
	for b.Loop() {
		ch, err := c.Issue(ctx, identity.KindCard, identity.PurposeAuthenticate, req, payload, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.ConsumeChallenge(ctx, ch.ID, ch.CreatedAt); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBare is the anchor: the least a database can do for a single-use
// token, one INSERT and one DELETE of a row of the same shape.
func benchBare(b *testing.B, s *sqlstore.Store) {
	ctx := context.Background()
	db := s.DB()
	ins, del := `INSERT INTO bare (id, payload) VALUES (?, ?)`, `DELETE FROM bare WHERE id = ?`
	if s.Engine() == "postgres" {
		ins, del = `INSERT INTO bare (id, payload) VALUES ($1, $2)`, `DELETE FROM bare WHERE id = $1`
	}
	typ := "BLOB"
	if s.Engine() == "postgres" {
		typ = "BYTEA"
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE bare (id `+typ+` PRIMARY KEY, payload `+typ+`)`); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 32)
	for b.Loop() {
		id := make([]byte, 16)
		rand.Read(id)
		if _, err := db.ExecContext(ctx, ins, id, payload); err != nil {
			b.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, del, id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChallengeSQLite(b *testing.B)   { benchChallenge(b, sqlstoretest.SQLite(b)) }
func BenchmarkBareSQLite(b *testing.B)        { benchBare(b, sqlstoretest.SQLite(b)) }
func BenchmarkChallengePostgres(b *testing.B) { s, _ := sqlstoretest.Postgres(b); benchChallenge(b, s) }
func BenchmarkBarePostgres(b *testing.B)      { s, _ := sqlstoretest.Postgres(b); benchBare(b, s) }

// benchAuditSeal appends audit events to two stores on one database in
// alternate rounds: one without an audit key (the anchor: the chain alone)
// and one with a key, whose every record also gets a nonce and an HMAC
// (identity/auditchain, "Sealed records"). Checkpoints are held off, so
// the difference is the seal alone: its computation and its 48 bytes.
func benchAuditSeal(b *testing.B, plain, sealed *sqlstore.Store) {
	ctx := context.Background()
	e := identity.Event{Subject: "alice", Kind: identity.KindTOTP, CredentialID: "totp-0123456789abcdef", Action: "login",
		Result: identity.Success, RemoteAddr: "192.0.2.1"}
	var tp, ts time.Duration
	for b.Loop() {
		e.Time = time.Now()
		t0 := time.Now()
		if err := plain.Audit(ctx, e); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := sealed.Audit(ctx, e); err != nil {
			b.Fatal(err)
		}
		tp, ts = tp+t1.Sub(t0), ts+time.Since(t1)
	}
	b.ReportMetric(float64(tp.Nanoseconds())/float64(b.N), "plain-ns/op")
	b.ReportMetric(float64(ts.Nanoseconds())/float64(b.N), "sealed-ns/op")
	b.ReportMetric(float64(ts)/float64(tp), "x-plain")
}

var benchAuditKey = identity.AuditConfig{Key: make([]byte, 32), CheckpointEvery: 1 << 30}

func BenchmarkAuditSealSQLite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "puce.db")
	benchAuditSeal(b, sqlstoretest.SQLiteAt(b, path), sqlstoretest.SQLiteAt(b, path, sqlstore.WithAudit(benchAuditKey)))
}

func BenchmarkAuditSealPostgres(b *testing.B) {
	dsn := sqlstoretest.SchemaDSN(b, sqlstoretest.PostgresDSN(b))
	var stores [2]*sqlstore.Store
	for i, opts := range [][]sqlstore.Option{nil, {sqlstore.WithAudit(benchAuditKey)}} {
		s, err := sqlstore.OpenPostgres(context.Background(), dsn, opts...)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	benchAuditSeal(b, stores[0], stores[1])
}

// benchCheckpointWatch measures what the watch of a handle's own records
// (auditwatch.go) adds to a checkpoint: per round, handle a appends a
// checkpoint interval's worth of events (100, the default CheckpointEvery)
// and checkpoints, checking those 100 records first; handle b, on the same
// database, checkpoints with none to check (the anchor: the checkpoint as it
// was, plus its one lookup of the last checkpoint it wrote). The appends
// are timed too, so the watch's cost can be read per login.
func benchCheckpointWatch(b *testing.B, a, other *sqlstore.Store) {
	ctx := context.Background()
	e := identity.Event{Kind: identity.KindTOTP, CredentialID: "totp-0123456789abcdef", Action: "login",
		Result: identity.Success, RemoteAddr: "192.0.2.1"}
	const n = 100
	var tApp, tA, tB time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		for j := range n {
			e.Time, e.Subject = time.Now(), identity.Subject(fmt.Sprintf("user%d", j))
			if err := a.Audit(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		if err := a.Checkpoint(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := other.Checkpoint(ctx); err != nil {
			b.Fatal(err)
		}
		tApp, tA, tB = tApp+t1.Sub(t0), tA+t2.Sub(t1), tB+time.Since(t2)
	}
	per := float64(b.N)
	b.ReportMetric(float64(tB.Nanoseconds())/per, "bare-cp-ns/op")
	b.ReportMetric(float64(tA.Nanoseconds())/per, "watched-cp-ns/op")
	b.ReportMetric(float64(tA)/float64(tB), "x-bare-cp")
	// The watch's cost spread over the logins it covered, against a login's append.
	b.ReportMetric(float64(tA-tB)/float64(tApp), "x-append")
}

var benchWatchKey = identity.AuditConfig{Key: make([]byte, 32), CheckpointEvery: 1 << 30, CheckpointInterval: -1}

func BenchmarkCheckpointWatchSQLite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "puce.db")
	benchCheckpointWatch(b, sqlstoretest.SQLiteAt(b, path, sqlstore.WithAudit(benchWatchKey)), sqlstoretest.SQLiteAt(b, path, sqlstore.WithAudit(benchWatchKey)))
}

func BenchmarkCheckpointWatchPostgres(b *testing.B) {
	dsn := sqlstoretest.SchemaDSN(b, sqlstoretest.PostgresDSN(b))
	var stores [2]*sqlstore.Store
	for i := range stores {
		s, err := sqlstore.OpenPostgres(context.Background(), dsn, sqlstore.WithAudit(benchWatchKey))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	benchCheckpointWatch(b, stores[0], stores[1])
}
