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

const enrolKind identity.Kind = "enrol-test"

func enrolCheck(svc *identity.Services, id string) identity.Check {
	return func(ctx context.Context, ch *identity.Challenge, ev *identity.Event) error {
		ev.CredentialID = id
		return svc.CreateCredential(ctx, &identity.Credential{Subject: ch.Subject, Kind: enrolKind, ID: id, Active: true, CreatedAt: ev.Time})
	}
}

func issueEnrol(t *testing.T, svc *identity.Services) identity.Response {
	t.Helper()
	ch, err := svc.Issue(context.Background(), enrolKind, identity.PurposeEnroll, identity.Request{Subject: "alice", Origin: "https://bank.example"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return identity.Response{ChallengeID: ch.ID, Subject: "alice", Origin: "https://bank.example"}
}

// TestEnrollOneCommit counts an enrolment's writes through the counting
// driver: the challenge consumed, the credential created and the audit
// event appended in one commit, on SQLite and PostgreSQL; an ID already
// taken fails the check (ErrExists), creates nothing, and still spends the
// challenge and audits the failure in that one commit.
func TestEnrollOneCommit(t *testing.T) {
	ctx := context.Background()
	for _, eng := range sqlstoretest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s, c := eng.Open(t)
			svc := &identity.Services{Store: s, Clock: identitytest.NewClock(identitytest.Epoch()), Throttle: &identity.Throttle{Store: s}}
			for i, id := range []string{"k1", "k1"} {
				resp := issueEnrol(t, svc)
				c.Reset()
				err := svc.Enroll(ctx, enrolKind, resp, enrolCheck(svc, id))
				if i == 0 && err != nil {
					t.Fatalf("enrol: %v", err)
				}
				if i == 1 && !errors.Is(err, identity.ErrExists) {
					t.Fatalf("enrol a taken ID: %v", err)
				}
				if n := c.Counts(); n.Commits+n.AutoCommits != 1 {
					t.Fatalf("enrolment %d: %d commits and %d autocommitted writes, want one commit", i, n.Commits, n.AutoCommits)
				}
				if err := svc.Enroll(ctx, enrolKind, resp, enrolCheck(svc, "other")); !errors.Is(err, identity.ErrReplayed) {
					t.Fatalf("enrolment %d replayed: %v", i, err)
				}
			}
			creds, err := s.Credentials(ctx, "alice", enrolKind)
			if err != nil || len(creds) != 1 || creds[0].ID != "k1" || creds[0].Revision != 1 {
				t.Fatalf("credentials after the enrolments: %+v, %v", creds, err)
			}
			if _, err := s.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestEnrollUnitRace: the ID is taken by another enrolment between this
// one's look-up and its commit. The commit conflicts, writes nothing, and
// the enrolment runs again and fails with ErrExists; a commit that fails
// leaves no credential and refuses the enrolment.
func TestEnrollUnitRace(t *testing.T) {
	ctx := context.Background()
	s := &unitFault{Store: memstore.New()}
	svc := &identity.Services{Store: s, Clock: identitytest.NewClock(identitytest.Epoch()), Throttle: &identity.Throttle{Store: s}}
	s.before = func() {
		if err := s.Store.CreateCredential(ctx, &identity.Credential{Subject: "bob", Kind: enrolKind, ID: "k1", Active: true}); err != nil {
			t.Error(err)
		}
	}
	if err := svc.Enroll(ctx, enrolKind, issueEnrol(t, svc), enrolCheck(svc, "k1")); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("enrolment racing another for its ID: %v", err)
	}
	if creds, _ := s.Credentials(ctx, "alice", enrolKind); len(creds) != 0 {
		t.Fatalf("alice got %+v", creds)
	}
	s.failCommit = errors.New("disk full")
	if err := svc.Enroll(ctx, enrolKind, issueEnrol(t, svc), enrolCheck(svc, "k2")); err == nil {
		t.Fatal("an enrolment succeeded though nothing could be committed")
	}
	if creds, _ := s.Credentials(ctx, "alice", enrolKind); len(creds) != 0 {
		t.Fatalf("a failed commit left %+v", creds)
	}
}
