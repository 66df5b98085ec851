package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestInterruptedUnitsLeaveNoPartialState runs 200 units, each
// consuming its challenge, advancing its credential's counter and
// appending two audit records (two partitions), each with a context that
// ends at a random moment: waiting for the write lock or a connection, in
// the middle of its statements, or (PostgreSQL) with its pipelined batch
// sent and the answer not read, when the server commits what the client
// reports failed. Every unit is then all there or not at all, and the
// trail, checkpointed every 7 appends meanwhile, verifies.
func TestInterruptedUnitsLeaveNoPartialState(t *testing.T) {
	ctx := context.Background()
	pg, _ := sqlstoretest.Postgres(t, sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, CheckpointEvery: 7}))
	for name, s := range map[string]*sqlstore.Store{
		"sqlite":   sqlstoretest.SQLiteAt(t, filepath.Join(t.TempDir(), "i.db"), sqlstore.WithAudit(identity.AuditConfig{Key: watchKey, CheckpointEvery: 7})),
		"postgres": pg,
	} {
		now := identitytest.Epoch()
		const n = 200
		type unit struct {
			ch   identity.ChallengeID
			cred *identity.Credential
			err  error
		}
		units := make([]unit, n)
		for i := range units {
			c := &identity.Credential{Subject: identity.Subject(fmt.Sprintf("u%d", i%5)), Kind: "int-test", ID: fmt.Sprintf("k%d", i), Active: true, CreatedAt: now}
			if err := s.CreateCredential(ctx, c); err != nil {
				t.Fatal(err)
			}
			ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "int-test", Subject: c.Subject, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.PutChallenge(ctx, ch); err != nil {
				t.Fatal(err)
			}
			units[i] = unit{ch: ch.ID, cred: c}
		}
		// The contexts end within three times what a unit takes alone
		// here, the units four at a time.
		commit := func(ctx context.Context, u *unit) error {
			return s.CommitUnit(ctx, &identity.UnitWrites{Challenge: u.ch, ConsumedAt: now,
				Counters: []identity.CounterAdvance{{Ref: u.cred.Ref(), N: 1, At: now}},
				Events: []identity.Event{{Time: now, Subject: u.cred.Subject, Kind: "int-test", CredentialID: u.cred.ID, Action: "login", Result: identity.Success},
					{Time: now, Subject: "other", Kind: "int-test", CredentialID: u.cred.ID, Action: "login", Result: identity.Success}}})
		}
		start := time.Now()
		if units[0].err = commit(ctx, &units[0]); units[0].err != nil {
			t.Fatal(units[0].err)
		}
		alone := time.Since(start)
		next := make(chan *unit)
		done := make(chan bool)
		for range 4 {
			go func() {
				for u := range next {
					cctx, cancel := context.WithTimeout(ctx, rand.N(3*alone))
					u.err = commit(cctx, u)
					cancel()
				}
				done <- true
			}()
		}
		for i := 1; i < n; i++ {
			next <- &units[i]
		}
		close(next)
		for range 4 {
			<-done
		}
		db := s.DB()
		ok, failed, both := 0, 0, 0
		for _, u := range units {
			var consumed sql.NullInt64
			var counter int64
			var recs int
			db.QueryRowContext(ctx, rb(name, `SELECT consumed_at FROM puce_challenges WHERE id = ?`), u.ch[:]).Scan(&consumed)
			db.QueryRowContext(ctx, rb(name, `SELECT counter FROM puce_credentials WHERE kind = 'int-test' AND id = ?`), u.cred.ID).Scan(&counter)
			db.QueryRowContext(ctx, rb(name, `SELECT count(*) FROM puce_audit_log WHERE credential_id = ?`), u.cred.ID).Scan(&recs)
			all := consumed.Valid && counter == 1 && recs == 2
			none := !consumed.Valid && counter == 0 && recs == 0
			if !all && !none {
				t.Errorf("%s: partial unit: consumed %v counter %d records %d (err %v)", name, consumed.Valid, counter, recs, u.err)
			}
			if all {
				ok++
			}
			if u.err != nil {
				failed++
			}
			if all && u.err != nil {
				both++ // the commit's answer lost: PostgreSQL
			}
		}
		t.Logf("%s: %d of %d units committed, %d reported an error, %d of them committed", name, ok, n, failed, both)
		if err := s.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey}); err != nil {
			t.Fatalf("%s: VerifyAudit after interrupted units: %v", name, err)
		}
	}
}

func rb(name, q string) string {
	if name == "postgres" {
		return strings.Replace(q, "?", "$1", 1)
	}
	return q
}
