package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/memstore"
	"github.com/puce-id/puce/identity/sqlstore/sqlstoretest"
)

// TestPasswordVerifyOneCommit counts, through the counting driver on
// SQLite and PostgreSQL, what a password login writes: one commit for a
// success and one for a failure (the attempt counted with its audit event),
// where the verification of issue 22's baseline took four or five.
func TestPasswordVerifyOneCommit(t *testing.T) {
	ctx := context.Background()
	for _, eng := range sqlstoretest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s, c := eng.Open(t)
			p := &identity.Passwords{Store: s, Audit: s, Throttle: &identity.Throttle{Store: s}, Params: fast}
			if _, err := p.Create(ctx, "alice", "correct horse battery", ""); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				password string
				ok       bool
			}{{"wrong horse battery", false}, {"correct horse battery", true}, {"correct horse battery", true}} {
				c.Reset()
				_, err := p.Verify(ctx, "alice", tc.password, "192.0.2.1:4711")
				if (err == nil) != tc.ok {
					t.Fatalf("Verify(%q): %v", tc.password, err)
				}
				if n := c.Counts(); n.Commits+n.AutoCommits != 1 {
					t.Fatalf("Verify(%q): %d commits and %d autocommitted writes, want one commit", tc.password, n.Commits, n.AutoCommits)
				}
			}
			if _, err := s.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
				t.Fatalf("audit trail: %v", err)
			}
			recs, _ := s.AuditEvents(ctx, "alice", 0)
			if len(recs) < 3 || recs[0].Event.Result != identity.Success || recs[2].Event.Result != identity.Failure {
				t.Fatalf("audit events: %+v", recs)
			}
		})
	}
}

// unitFault is a memstore whose unit commits can be made to fail or be
// preceded by another request's change.
type unitFault struct {
	*memstore.Store
	failCommit error
	before     func() // runs once, before the next commit
}

func (u *unitFault) CommitUnit(ctx context.Context, w *identity.UnitWrites) error {
	if f := u.before; f != nil {
		u.before = nil
		f()
	}
	if u.failCommit != nil {
		return u.failCommit
	}
	return u.Store.CommitUnit(ctx, w)
}

// TestPasswordVerifyUnitAllOrNothing: a commit that fails (the audit event
// cannot be written with the rest) refuses the login and leaves the
// credential and the throttle as they were; a password changed between the
// read and the commit is not logged in with the old one.
func TestPasswordVerifyUnitAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := &unitFault{Store: memstore.New()}
	p := &identity.Passwords{Store: s, Audit: s, Throttle: &identity.Throttle{Store: s}, Params: fast}
	if _, err := p.Create(ctx, "alice", "correct horse battery", ""); err != nil {
		t.Fatal(err)
	}
	before, err := s.Credential(ctx, identity.CredentialRef{Subject: "alice", Kind: identity.KindPassword, ID: "alice"})
	if err != nil {
		t.Fatal(err)
	}

	s.failCommit = errors.New("disk full")
	for _, pw := range []string{"correct horse battery", "wrong horse battery"} {
		if _, err := p.Verify(ctx, "alice", pw, ""); err == nil {
			t.Fatalf("Verify(%q) succeeded though nothing could be committed", pw)
		}
	}
	after, _ := s.Credential(ctx, before.Ref())
	if after.Revision != before.Revision || !after.LastUsedAt.Equal(before.LastUsedAt) {
		t.Fatalf("a failed commit changed the credential: %+v -> %+v", before, after)
	}
	if st, _ := s.LoadThrottle(ctx, identity.ThrottleKey{Subject: "alice", Kind: identity.KindPassword}); st.Version != 0 {
		t.Fatalf("a failed commit counted an attempt: %+v", st)
	}
	s.failCommit = nil

	// The password changes between this login's read and its commit: the
	// commit conflicts, the login is judged again on the new hash.
	s.before = func() {
		if err := p.Set(ctx, "alice", "new battery staple"); err != nil {
			t.Error(err)
		}
	}
	if _, err := p.Verify(ctx, "alice", "correct horse battery", ""); !errors.Is(err, identity.ErrPasswordMismatch) {
		t.Fatalf("old password after a change mid-login: %v", err)
	}
	if _, err := p.Verify(ctx, "alice", "new battery staple", ""); err != nil {
		t.Fatalf("new password: %v", err)
	}
}
