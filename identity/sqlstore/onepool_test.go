package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestOneConnection: a store whose pool holds one connection (":memory:",
// or WithPool(1)) writes its transactions. A statement a transaction runs
// for the first time was prepared on the handle, which needs a second
// connection while the transaction holds the only one: the first audited
// append, unit or session renewal of such a store waited for ever (here,
// for its context's 10 s).
func TestOneConnection(t *testing.T) {
	key := make([]byte, 32)
	for name, open := range map[string]func(t *testing.T) *sqlstore.Store{
		"memory": func(t *testing.T) *sqlstore.Store {
			return sqlstoretest.SQLiteAt(t, ":memory:", sqlstore.WithAudit(identity.AuditConfig{Key: key}))
		},
		"file pool 1": func(t *testing.T) *sqlstore.Store {
			return sqlstoretest.SQLiteAt(t, filepath.Join(t.TempDir(), "one.db"), sqlstore.WithPool(1), sqlstore.WithAudit(identity.AuditConfig{Key: key}))
		},
		"postgres pool 1": func(t *testing.T) *sqlstore.Store {
			dsn := sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t))
			s, err := sqlstore.OpenPostgres(context.Background(), dsn, sqlstore.WithPool(1), sqlstore.WithAudit(identity.AuditConfig{Key: key}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			now := identitytest.Epoch()
			if err := s.Audit(ctx, identity.Event{Time: now, Subject: "alice", Action: "login", Result: identity.Success}); err != nil {
				t.Fatalf("Audit: %v", err)
			}
			cred := &identity.Credential{Subject: "alice", Kind: "one-test", ID: "k1", Active: true, CreatedAt: now}
			if err := s.CreateCredential(ctx, cred); err != nil {
				t.Fatal(err)
			}
			ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "one-test", Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
			if err := s.PutChallenge(ctx, ch); err != nil {
				t.Fatal(err)
			}
			w := &identity.UnitWrites{Challenge: ch.ID, ConsumedAt: now,
				Counters: []identity.CounterAdvance{{Ref: cred.Ref(), N: 1, At: now}},
				Events:   []identity.Event{{Time: now, Subject: "alice", Kind: "one-test", Action: "login", Result: identity.Success}}}
			if err := s.CommitUnit(ctx, w); err != nil {
				t.Fatalf("CommitUnit: %v", err)
			}
			old := &identity.SessionRecord{ID: identity.SessionIDOf([]byte("one-old")), Subject: "alice", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateSession(ctx, old); err != nil {
				t.Fatal(err)
			}
			next := &identity.SessionRecord{ID: identity.SessionIDOf([]byte("one-new")), Subject: "alice", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.RenewSession(ctx, old.ID, 1, next); err != nil {
				t.Fatalf("RenewSession: %v", err)
			}
			if err := s.Checkpoint(ctx); err != nil {
				t.Fatalf("Checkpoint: %v", err)
			}
			if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: key}); err != nil {
				t.Fatalf("VerifyAudit: %v", err)
			}
		})
	}
}

// TestSQLiteMemory runs the conformance suite on ":memory:" stores, whose
// pool is one connection.
func TestSQLiteMemory(t *testing.T) {
	identitytest.RunStore(t, identitytest.StoreFactory{
		Open: func(t *testing.T) identity.Store { return sqlstoretest.SQLiteAt(t, ":memory:") },
		OpenAudit: func(t *testing.T, c identity.AuditConfig) identity.Store {
			return sqlstoretest.SQLiteAt(t, ":memory:", sqlstore.WithAudit(c))
		},
	})
}
