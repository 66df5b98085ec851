package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestImportOneCommit: an imported credential and its audit event are one
// commit on SQLite and PostgreSQL; a taken ID is ErrExists, leaves the
// holder's credential alone and audits the failure.
func TestImportOneCommit(t *testing.T) {
	ctx := context.Background()
	for _, eng := range sqlstoretest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s, c := eng.Open(t)
			svc := &identity.Services{Store: s, Clock: identitytest.NewClock(identitytest.Epoch()), Throttle: &identity.Throttle{Store: s}}
			for i, sub := range []identity.Subject{"alice", "bob"} {
				c.Reset()
				cred := &identity.Credential{Subject: sub, Kind: enrolKind, ID: "tok-1", Secret: []byte("sealed"), Active: true}
				err := svc.ImportCredential(ctx, cred, identity.Event{Subject: sub, Kind: enrolKind, CredentialID: "tok-1", Action: "import"})
				switch {
				case i == 0 && err != nil:
					t.Fatalf("import: %v", err)
				case i == 1 && !errors.Is(err, identity.ErrExists):
					t.Fatalf("import of a taken ID: %v", err)
				}
				if n := c.Counts(); i == 0 && n.Commits+n.AutoCommits != 1 {
					t.Fatalf("import: %d commits and %d autocommitted writes, want one commit", n.Commits, n.AutoCommits)
				}
			}
			got, err := s.CredentialByID(ctx, enrolKind, "tok-1")
			if err != nil || got.Subject != "alice" || got.Revision != 1 || string(got.Secret) != "sealed" {
				t.Fatalf("after the imports: %+v, %v", got, err)
			}
			recs, err := s.AuditEvents(ctx, "bob", 10)
			if err != nil || len(recs) != 1 || recs[0].Event.Result != identity.Failure || recs[0].Event.Action != "import" {
				t.Fatalf("bob's refused import in the trail: %+v, %v", recs, err)
			}
			if _, err := s.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestImportAllOrNothing: when the unit cannot commit, no credential is
// left, and the import fails.
func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := &unitFault{Store: memstore.New(), failCommit: errors.New("disk full")}
	svc := &identity.Services{Store: s, Clock: identitytest.NewClock(identitytest.Epoch())}
	cred := &identity.Credential{Subject: "alice", Kind: enrolKind, ID: "tok-2", Active: true}
	if err := svc.ImportCredential(ctx, cred, identity.Event{Subject: "alice", Kind: enrolKind, Action: "import"}); err == nil {
		t.Fatal("an import succeeded though nothing could be committed")
	}
	if creds, _ := s.Credentials(ctx, "alice", enrolKind); len(creds) != 0 {
		t.Fatalf("a failed commit left %+v", creds)
	}
}
