package sqlstore_test

import (
	"context"
	"crypto/rand"
	"testing"

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
