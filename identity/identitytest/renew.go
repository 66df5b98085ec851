package identitytest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

func renewer(t *testing.T, s identity.Store) identity.SessionRenewer {
	r, ok := s.(identity.SessionRenewer)
	if !ok {
		t.Skipf("%T does not renew sessions in one step (identity.SessionRenewer); httpauth deletes and creates instead", s)
	}
	return r
}

// testSessionRenew: a renewal ends the old ID and begins the new in one
// step, only at the version asked, and writes nothing when refused.
func testSessionRenew(t *testing.T, s identity.Store) {
	r := renewer(t, s)
	ctx := context.Background()
	at := Epoch()
	old := newSession("renew-old", at)
	mustNoErr(t, s.CreateSession(ctx, old), "create")
	up := *old
	up.Subject = "alice"
	mustNoErr(t, s.UpdateSession(ctx, &up), "update") // version 2

	next := newSession("renew-next", at.Add(time.Minute))
	next.Subject, next.Data = "alice", []byte("renewed")
	next.Version = 9 // the store's to set
	wantErr(t, r.RenewSession(ctx, old.ID, 1, next), identity.ErrChanged, "renew an old version")
	if _, err := s.Session(ctx, next.ID, at); !errors.Is(err, identity.ErrNoSession) {
		t.Fatalf("a refused renewal created the new session: %v", err)
	}
	if got, err := s.Session(ctx, old.ID, at); err != nil || got.Version != 2 {
		t.Fatalf("a refused renewal touched the old session: %+v, %v", got, err)
	}
	wantErr(t, r.RenewSession(ctx, identity.SessionIDOf([]byte("renew-none")), 1, next), identity.ErrNoSession, "renew an unknown session")

	mustNoErr(t, r.RenewSession(ctx, old.ID, 2, next), "renew")
	if next.Version != 1 {
		t.Fatalf("renewed at version %d, want 1", next.Version)
	}
	if _, err := s.Session(ctx, old.ID, at); !errors.Is(err, identity.ErrNoSession) {
		t.Fatalf("the old session outlived its renewal: %v", err)
	}
	got, err := s.Session(ctx, next.ID, at.Add(time.Minute))
	mustNoErr(t, err, "load the renewed session")
	if got.Subject != "alice" || string(got.Data) != "renewed" || !got.CreatedAt.Equal(next.CreatedAt) ||
		!got.ExpiresAt.Equal(next.ExpiresAt) || got.Version != 1 {
		t.Fatalf("renewed session: %+v", got)
	}
	wantErr(t, r.RenewSession(ctx, old.ID, 2, newSession("renew-again", at)), identity.ErrNoSession, "renew twice")

	// Version 0 renews whatever the version; a taken new ID is ErrExists.
	third := newSession("renew-third", at)
	mustNoErr(t, r.RenewSession(ctx, next.ID, 0, third), "renew any version")
	other := newSession("renew-other", at)
	mustNoErr(t, s.CreateSession(ctx, other), "create")
	wantErr(t, r.RenewSession(ctx, other.ID, 1, newSession("renew-third", at)), identity.ErrExists, "renew onto a taken ID")
	if _, err := s.Session(ctx, third.ID, at); err != nil {
		t.Fatalf("renewing onto a taken ID harmed the session holding it: %v", err)
	}
}

// testSessionRenewRace: of many renewals of one version, across two store
// handles, exactly one succeeds, and exactly one new session exists.
func testSessionRenewRace(t *testing.T, a, b identity.Store) {
	renewer(t, a)
	ctx := context.Background()
	old := newSession("renew-race", Epoch())
	mustNoErr(t, a.CreateSession(ctx, old), "create")
	won := race(t, 64, a, b, func(s identity.Store, i int) error {
		err := s.(identity.SessionRenewer).RenewSession(ctx, old.ID, 1, newSession(fmt.Sprint("renew-race-", i), Epoch()))
		if errors.Is(err, identity.ErrNoSession) {
			return identity.ErrChanged // a loser either way
		}
		return err
	}, identity.ErrChanged)
	if won != 1 {
		t.Fatalf("%d of 64 renewals of one version succeeded; want exactly 1", won)
	}
	live := 0
	for i := range 64 {
		if _, err := b.Session(ctx, identity.SessionIDOf([]byte(fmt.Sprint("renew-race-", i))), Epoch()); err == nil {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d sessions came out of one version's renewals; want 1", live)
	}
}
