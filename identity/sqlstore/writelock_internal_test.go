package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// TestWriteQueueHonoursContext: a write waiting behind another on SQLite
// gives up when its context ends, with the context's error, and writes
// nothing; once the lock is free the same write goes through.
func TestWriteQueueHonoursContext(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	unlock, err := s.writer.lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ch := &identity.Challenge{ID: identity.NewChallengeID(), Kind: "totp", Subject: "q", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.PutChallenge(short, ch); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PutChallenge behind a held write lock: %v, want DeadlineExceeded", err)
	}
	if _, err := s.ConsumeChallenge(short, ch.ID, now); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ConsumeChallenge behind a held write lock: %v, want DeadlineExceeded", err)
	}
	unlock()
	if _, err := s.ConsumeChallenge(ctx, ch.ID, now); !errors.Is(err, identity.ErrUnknownChallenge) {
		t.Fatalf("the timed-out PutChallenge wrote its challenge: %v", err)
	}
	if err := s.PutChallenge(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeChallenge(ctx, ch.ID, now); err != nil {
		t.Fatal(err)
	}
}
