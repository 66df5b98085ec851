package identitytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

func revoker(t *testing.T, s identity.Store) identity.SessionRevoker {
	r, ok := s.(identity.SessionRevoker)
	if !ok {
		t.Skipf("%T cannot end a subject's sessions (identity.SessionRevoker); httpauth's EndSessions refuses with ErrCannotEndSessions", s)
	}
	return r
}

func subjectSession(token string, subject identity.Subject, at time.Time) *identity.SessionRecord {
	r := newSession(token, at)
	r.Subject = subject
	return r
}

// testSessionRevoke: RevokeSessions ends every session of one subject but
// the one kept, and nobody else's; what it ended no longer loads, updates
// or renews.
func testSessionRevoke(t *testing.T, s identity.Store) {
	rv := revoker(t, s)
	ctx := context.Background()
	at := Epoch()
	alice := []*identity.SessionRecord{subjectSession("rv-a1", "alice", at), subjectSession("rv-a2", "alice", at), subjectSession("rv-a3", "alice", at)}
	// An expired session not yet purged is the subject's too.
	alice[2].ExpiresAt = at.Add(-time.Minute)
	others := []*identity.SessionRecord{subjectSession("rv-b1", "bob", at), subjectSession("rv-anon", "", at),
		subjectSession("rv-alice2", "alice2", at), subjectSession("rv-Alice", "Alice", at)}
	for _, r := range append(append([]*identity.SessionRecord{}, alice...), others...) {
		mustNoErr(t, s.CreateSession(ctx, r), "create")
	}

	n, err := rv.RevokeSessions(ctx, "alice", alice[1].ID)
	mustNoErr(t, err, "revoke all but the kept one")
	if n != 2 {
		t.Fatalf("revoked %d sessions, want 2", n)
	}
	for _, r := range []*identity.SessionRecord{alice[0], alice[2]} {
		_, err := s.Session(ctx, r.ID, at.Add(-time.Hour))
		wantErr(t, err, identity.ErrNoSession, "load a revoked session")
		up := *r
		wantErr(t, s.UpdateSession(ctx, &up), identity.ErrNoSession, "update a revoked session")
		if rn, ok := s.(identity.SessionRenewer); ok {
			wantErr(t, rn.RenewSession(ctx, r.ID, 0, subjectSession("rv-resurrect", "alice", at)), identity.ErrNoSession, "renew a revoked session")
		}
	}
	for _, r := range append([]*identity.SessionRecord{alice[1]}, others...) {
		got, err := s.Session(ctx, r.ID, at)
		mustNoErr(t, err, fmt.Sprintf("load %q's session, which the revocation must not touch", r.Subject))
		if got.Version != 1 || got.Subject != r.Subject {
			t.Fatalf("an untouched session changed: %+v", got)
		}
	}

	n, err = rv.RevokeSessions(ctx, "alice", identity.SessionID{})
	mustNoErr(t, err, "revoke all")
	if n != 1 {
		t.Fatalf("revoked %d sessions, want the 1 kept before", n)
	}
	n, err = rv.RevokeSessions(ctx, "alice", identity.SessionID{})
	if err != nil || n != 0 {
		t.Fatalf("revoking a subject without sessions: %d, %v; want 0, nil", n, err)
	}
	// The anonymous sessions are nobody's to revoke.
	_, err = rv.RevokeSessions(ctx, "", identity.SessionID{})
	wantErr(t, err, identity.ErrBadInput, "revoke the empty subject")
	_, err = s.Session(ctx, others[1].ID, at)
	mustNoErr(t, err, "load the anonymous session")
}

// testSessionRevokeRace: sessions of one subject renewed and updated
// without pause, across two store handles, while RevokeSessions runs: once
// it returns, no renewal or update of them lands, and none of them, under
// whatever ID a renewal gave it, still loads. Another subject's session,
// renewed alike, lives on.
func testSessionRevokeRace(t *testing.T, a, b identity.Store) {
	revoker(t, a)
	renew, _ := a.(identity.SessionRenewer)
	ctx := context.Background()
	at := Epoch()
	const rounds, chains = 6, 8
	for round := range rounds {
		var revoked atomic.Bool
		var wg sync.WaitGroup
		ready := make(chan struct{}, chains)
		last := make([]identity.SessionID, chains)
		errs := make(chan error, chains)
		for i := range chains {
			subject := identity.Subject("alice")
			if i == 0 {
				subject = "bob"
			}
			s := a
			if i%2 == 1 {
				s = b
			}
			cur := subjectSession(fmt.Sprintf("rv-race-%d-%d-0", round, i), subject, at)
			mustNoErr(t, s.CreateSession(ctx, cur), "create")
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { last[i] = cur.ID }()
				for k := 1; ; k++ {
					if k == 3 {
						ready <- struct{}{}
					}
					after := revoked.Load()
					if subject == "bob" && after {
						return
					}
					var err error
					next := cur
					if renew != nil && k%3 != 0 {
						next = subjectSession(fmt.Sprintf("rv-race-%d-%d-%d", round, i, k), subject, at)
						err = s.(identity.SessionRenewer).RenewSession(ctx, cur.ID, 0, next)
					} else {
						up := *cur
						up.Data = []byte(fmt.Sprint("update ", k))
						next = &up
						err = s.UpdateSession(ctx, next)
					}
					switch {
					case errors.Is(err, identity.ErrNoSession):
						return // revoked
					case err != nil:
						errs <- err
						return
					case after:
						errs <- fmt.Errorf("round %d: a write begun after RevokeSessions returned landed on session %d", round, i)
						return
					}
					cur = next
				}
			}()
		}
		for range chains {
			<-ready
		}
		_, err := a.(identity.SessionRevoker).RevokeSessions(ctx, "alice", identity.SessionID{})
		revoked.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		mustNoErr(t, err, "revoke")
		for i, id := range last {
			_, err := b.Session(ctx, id, at)
			switch {
			case i == 0 && err != nil:
				t.Fatalf("round %d: another subject's session did not survive: %v", round, err)
			case i > 0 && !errors.Is(err, identity.ErrNoSession):
				t.Fatalf("round %d: session %d outlived RevokeSessions under a renewed ID: %v", round, i, err)
			}
		}
	}
}
