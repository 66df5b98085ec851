package identitytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

func newSession(token string, at time.Time) *identity.SessionRecord {
	return &identity.SessionRecord{ID: identity.SessionIDOf([]byte(token)), Data: []byte{1, 2, 3},
		CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(5 * time.Minute)}
}

func testSessions(t *testing.T, s identity.Store) {
	ctx := context.Background()
	at := Epoch()
	r := newSession("a", at)
	r.Version = 42 // the store's to set
	mustNoErr(t, s.CreateSession(ctx, r), "create")
	if r.Version != 1 {
		t.Fatalf("created at version %d, want 1", r.Version)
	}
	wantErr(t, s.CreateSession(ctx, newSession("a", at)), identity.ErrExists, "create twice")

	got, err := s.Session(ctx, r.ID, at)
	mustNoErr(t, err, "load")
	if got.ID != r.ID || got.Subject != "" || !bytes.Equal(got.Data, r.Data) || !got.CreatedAt.Equal(at) ||
		!got.LastSeenAt.Equal(at) || !got.ExpiresAt.Equal(r.ExpiresAt) || got.Version != 1 {
		t.Fatalf("loaded %+v, stored %+v", got, r)
	}
	got.Data[0] = 9
	if again, _ := s.Session(ctx, r.ID, at); again.Data[0] != 1 {
		t.Fatal("store shares its bytes with callers")
	}
	_, err = s.Session(ctx, identity.SessionIDOf([]byte("b")), at)
	wantErr(t, err, identity.ErrNoSession, "load unknown")
	// A session ends at ExpiresAt, whether or not a purge has run.
	_, err = s.Session(ctx, r.ID, r.ExpiresAt.Add(-time.Microsecond))
	mustNoErr(t, err, "load just before expiry")
	_, err = s.Session(ctx, r.ID, r.ExpiresAt)
	wantErr(t, err, identity.ErrNoSession, "load at expiry")

	// An update lands on the version it was built from, and moves it on.
	stale := *r
	up := *r
	up.Subject, up.Data = "alice", []byte("logged in")
	up.LastSeenAt, up.ExpiresAt = at.Add(time.Minute), at.Add(6*time.Minute)
	up.CreatedAt = at.Add(time.Hour) // not the caller's to move
	mustNoErr(t, s.UpdateSession(ctx, &up), "update")
	if up.Version != 2 {
		t.Fatalf("updated to version %d, want 2", up.Version)
	}
	got, err = s.Session(ctx, r.ID, at.Add(5*time.Minute))
	mustNoErr(t, err, "load after update (the expiry moved on)")
	if got.Subject != "alice" || string(got.Data) != "logged in" || !got.LastSeenAt.Equal(up.LastSeenAt) ||
		!got.ExpiresAt.Equal(up.ExpiresAt) || !got.CreatedAt.Equal(at) || got.Version != 2 {
		t.Fatalf("after update: %+v", got)
	}
	stale.Data = []byte("stale")
	wantErr(t, s.UpdateSession(ctx, &stale), identity.ErrChanged, "update built on an old version")
	if got, _ := s.Session(ctx, r.ID, at); string(got.Data) != "logged in" || got.Version != 2 {
		t.Fatalf("a refused update wrote: %+v", got)
	}
	missing := newSession("c", at)
	missing.Version = 1
	wantErr(t, s.UpdateSession(ctx, missing), identity.ErrNoSession, "update unknown")

	// Deleting checks the version unless told not to, and happens once.
	wantErr(t, s.DeleteSession(ctx, r.ID, 1), identity.ErrChanged, "delete an old version")
	mustNoErr(t, s.DeleteSession(ctx, r.ID, 2), "delete")
	wantErr(t, s.DeleteSession(ctx, r.ID, 0), identity.ErrNoSession, "delete twice")
	_, err = s.Session(ctx, r.ID, at)
	wantErr(t, err, identity.ErrNoSession, "load deleted")
	any := newSession("d", at)
	mustNoErr(t, s.CreateSession(ctx, any), "create")
	mustNoErr(t, s.DeleteSession(ctx, any.ID, 0), "delete any version")

	// Purge removes what expired before the cut, and only that.
	for i := range 4 {
		x := newSession(fmt.Sprint("p", i), at)
		x.ExpiresAt = at.Add(time.Duration(i) * time.Minute)
		mustNoErr(t, s.CreateSession(ctx, x), "create")
	}
	n, err := s.PurgeSessions(ctx, at.Add(2*time.Minute))
	mustNoErr(t, err, "purge")
	if n != 2 {
		t.Fatalf("purged %d sessions, want 2", n)
	}
	for i := range 4 {
		x := newSession(fmt.Sprint("p", i), at)
		err := s.DeleteSession(ctx, x.ID, 0)
		if i < 2 {
			wantErr(t, err, identity.ErrNoSession, fmt.Sprint("purged session ", i))
		} else {
			mustNoErr(t, err, fmt.Sprint("kept session ", i))
		}
	}
}

// Of many updates built on one version, across two store handles, exactly
// one lands; of many deletes of one version, exactly one.
func testSessionRace(t *testing.T, a, b identity.Store) {
	ctx := context.Background()
	r := newSession("race", Epoch())
	mustNoErr(t, a.CreateSession(ctx, r), "create")
	won := race(t, 64, a, b, func(s identity.Store, i int) error {
		mine := *r
		mine.Data = []byte(fmt.Sprint("writer ", i))
		return s.UpdateSession(ctx, &mine)
	}, identity.ErrChanged)
	if won != 1 {
		t.Fatalf("%d of 64 updates built on one version landed; want exactly 1", won)
	}
	got, err := b.Session(ctx, r.ID, Epoch())
	mustNoErr(t, err, "load")
	if got.Version != 2 {
		t.Fatalf("after the race the session is at version %d, want 2", got.Version)
	}
	var deleted int
	deleted = race(t, 64, a, b, func(s identity.Store, i int) error {
		err := s.DeleteSession(ctx, r.ID, got.Version)
		if errors.Is(err, identity.ErrNoSession) {
			return identity.ErrChanged // a loser either way
		}
		return err
	}, identity.ErrChanged)
	if deleted != 1 {
		t.Fatalf("%d of 64 deletes of one version succeeded; want exactly 1", deleted)
	}
}
