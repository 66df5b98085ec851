package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
	"github.com/puce-id/puce/identity/memstore"
)

// TestCheckpointInterval: memstore checkpoints by time at the first append
// a CheckpointInterval after the first one the last checkpoint did not
// cover, so that a trail appended to now and then stays fresh
// (AuditKeys.Fresh) without a timer.
func TestCheckpointInterval(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, 32)
	s := memstore.New()
	clock := identitytest.NewClock(identitytest.Epoch())
	h, err := s.NewAuditHandle(identity.AuditConfig{Key: key, CheckpointInterval: 5 * time.Minute}, clock)
	if err != nil {
		t.Fatal(err)
	}
	checkpoints := func() (n int) {
		s.TamperAudit(func(tr *auditchain.Trail) { n = len(tr.Checkpoints) })
		return n
	}
	login := func() {
		if err := h.Audit(ctx, identity.Event{Time: clock.Now(), Subject: "alice", Action: "login", Result: identity.Success}); err != nil {
			t.Fatal(err)
		}
	}
	login()
	clock.Advance(4 * time.Minute)
	login()
	if n := checkpoints(); n != 0 {
		t.Fatalf("%d checkpoints 4 minutes after the first append, want 0", n)
	}
	clock.Advance(time.Minute)
	login()
	if n := checkpoints(); n != 1 {
		t.Fatalf("%d checkpoints 5 minutes after the first append, want 1", n)
	}
	keys := identity.AuditKeys{Current: key, Fresh: 10 * time.Minute, Now: clock.Now().Add(9 * time.Minute)}
	if _, err := s.VerifyAudit(ctx, keys); err != nil {
		t.Fatalf("verify 9 minutes after the checkpoint, 10 allowed: %v", err)
	}
	// The next interval starts at the next append, not at the checkpoint.
	clock.Advance(time.Hour)
	login()
	if n := checkpoints(); n != 1 {
		t.Fatalf("%d checkpoints after the first append of a new interval, want 1", n)
	}
}
