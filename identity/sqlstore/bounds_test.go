package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/sqlstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestTextBounds: text no database column holds as given (a NUL byte,
// invalid UTF-8, which PostgreSQL refuses), and a session subject over the
// bound every store keys on, are refused with identity.ErrBadInput before
// anything is written, on both engines alike. PostgreSQL refused them with
// its own errors (SQLSTATE 22021, 54000 for an index entry over a third of
// a page), which a caller cannot branch on, and SQLite stored them, so
// that what passed on one failed on the other.
func TestTextBounds(t *testing.T) {
	ctx := context.Background()
	stores := map[string]*sqlstore.Store{
		"sqlite": sqlstoretest.SQLiteAt(t, filepath.Join(t.TempDir(), "b.db"), sqlstore.WithAudit(identity.AuditConfig{Key: watchKey})),
	}
	if pg, ok := postgresIfSet(t); ok {
		stores["postgres"] = pg
	}
	now := identitytest.Epoch()
	bad := map[string]string{"NUL": "a\x00b", "invalid UTF-8": "a\xffb"}
	long := identity.Subject(strings.Repeat("s", 4000))
	for name, s := range stores {
		for what, v := range bad {
			t.Run(name+"/"+what, func(t *testing.T) {
				check := func(op string, err error) {
					t.Helper()
					if !errors.Is(err, identity.ErrBadInput) {
						t.Errorf("%s with %s: %v, want ErrBadInput", op, what, err)
					}
				}
				ev := identity.Event{Time: now, Subject: "alice", Kind: "bounds", Action: "login", Result: identity.Success}
				for field, set := range map[string]func(e *identity.Event){
					"reason": func(e *identity.Event) { e.Reason = v }, "action": func(e *identity.Event) { e.Action = v },
					"remote address": func(e *identity.Event) { e.RemoteAddr = v }, "credential ID": func(e *identity.Event) { e.CredentialID = v },
					"result": func(e *identity.Event) { e.Result = identity.Result(v) },
				} {
					e := ev
					set(&e)
					check("Audit, "+field, s.Audit(ctx, e))
					ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "bounds", Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
					if err := s.PutChallenge(ctx, ch); err != nil {
						t.Fatal(err)
					}
					check("CommitUnit, event "+field, s.CommitUnit(ctx, &identity.UnitWrites{Challenge: ch.ID, ConsumedAt: now, Events: []identity.Event{ev, e}}))
					if _, err := s.ConsumeChallenge(ctx, ch.ID, now); err != nil {
						t.Errorf("the refused unit (event %s) consumed its challenge: %v", field, err)
					}
				}
				c := &identity.Credential{Subject: "alice", Kind: "bounds", ID: "k-" + what, Name: v, Active: true, CreatedAt: now}
				check("CreateCredential, name", s.CreateCredential(ctx, c))
				c.Name = "ok"
				if err := s.CreateCredential(ctx, c); err != nil {
					t.Fatal(err)
				}
				c.Name = v
				check("UpdateCredential, name", s.UpdateCredential(ctx, c))
				check("CommitUnit, credential create", s.CommitUnit(ctx, &identity.UnitWrites{Creates: []identity.Credential{{Subject: "alice", Kind: "bounds", ID: "k2-" + what, Name: v, Active: true, CreatedAt: now}}}))
				if got, err := s.Credential(ctx, c.Ref()); err != nil {
					t.Error(err)
				} else if got.Name != "ok" || got.Revision != 1 {
					t.Errorf("the credential after refused writes: name %q, revision %d", got.Name, got.Revision)
				}
				ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "bounds", Subject: "alice", Origin: v, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
				check("PutChallenge, origin", s.PutChallenge(ctx, ch))
				sess := &identity.SessionRecord{ID: identity.SessionIDOf([]byte("b-" + what)), Subject: identity.Subject(v), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
				check("CreateSession, subject", s.CreateSession(ctx, sess))
			})
		}
		t.Run(name+"/long session subject", func(t *testing.T) {
			sess := &identity.SessionRecord{ID: identity.SessionIDOf([]byte("long")), Subject: long, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateSession(ctx, sess); !errors.Is(err, identity.ErrBadInput) {
				t.Errorf("CreateSession with a %d-byte subject: %v, want ErrBadInput", len(long), err)
			}
			ok := &identity.SessionRecord{ID: identity.SessionIDOf([]byte("short")), Subject: "alice", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateSession(ctx, ok); err != nil {
				t.Fatal(err)
			}
			ok.Subject = long
			if err := s.UpdateSession(ctx, ok); !errors.Is(err, identity.ErrBadInput) {
				t.Errorf("UpdateSession to a %d-byte subject: %v, want ErrBadInput", len(long), err)
			}
			next := &identity.SessionRecord{ID: identity.SessionIDOf([]byte("next")), Subject: long, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.RenewSession(ctx, ok.ID, 1, next); !errors.Is(err, identity.ErrBadInput) {
				t.Errorf("RenewSession to a %d-byte subject: %v, want ErrBadInput", len(long), err)
			}
			if got, err := s.Session(ctx, ok.ID, now); err != nil {
				t.Error(err)
			} else if got.Subject != "alice" || got.Version != 1 {
				t.Errorf("the session after refused writes: subject of %d bytes, version %d", len(got.Subject), got.Version)
			}
		})
		if _, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: watchKey}); err != nil {
			t.Errorf("%s: VerifyAudit: %v", name, err)
		}
	}
}

// postgresIfSet is a store on a fresh schema of PUCE_POSTGRES_DSN's
// server, when it is set (under CI it must be: PostgresDSN fails there).
func postgresIfSet(t *testing.T) (*sqlstore.Store, bool) {
	if os.Getenv("PUCE_POSTGRES_DSN") == "" && os.Getenv("CI") == "" {
		t.Log("PostgreSQL half skipped: PUCE_POSTGRES_DSN is unset")
		return nil, false
	}
	return openPostgres(t, sqlstoretest.SchemaDSN(t, sqlstoretest.PostgresDSN(t)), sqlstore.WithAudit(identity.AuditConfig{Key: watchKey})), true
}
