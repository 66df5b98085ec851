package sqlstore

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
)

func rec(seq int64) auditchain.Head {
	return auditchain.Head{Partition: 0, Seq: seq, Hash: []byte{byte(seq)}}
}

func seqs(hs []auditchain.Head) []int64 {
	var out []int64
	for _, h := range hs {
		out = append(out, h.Seq)
	}
	return out
}

// TestTrailWatchOverlappingChecks: two checkpoints of one handle at once
// (the timer's, a count's, the application's), whose checks end in
// either order, forget only the records a check covered, and the
// checkpoint remembered is the newer. Before, the second check forgot as
// many records from the front as its snapshot held, including records
// appended after it that no check had seen, and the one to end last set
// the checkpoint remembered, older or not.
func TestTrailWatchOverlappingChecks(t *testing.T) {
	now := time.Now()
	var w trailWatch
	w.appended(now, []auditchain.Head{rec(1), rec(2), rec(3), rec(4), rec(5)})
	s1 := w.snapshot()
	w.appended(now, []auditchain.Head{rec(6)})
	s2 := w.snapshot()
	w.checked(s1, 1, 10, []byte("ten"))
	w.appended(now, []auditchain.Head{rec(7), rec(8)})
	w.checked(s2, 2, 11, []byte("eleven"))
	if got := seqs(w.snapshot().mine); !slices.Equal(got, []int64{7, 8}) {
		t.Fatalf("records left to check after two overlapping checks: %v, want [7 8]", got)
	}

	// The two checks end in the other order.
	var v trailWatch
	v.appended(now, []auditchain.Head{rec(1), rec(2)})
	a := v.snapshot()
	v.appended(now, []auditchain.Head{rec(3)})
	b := v.snapshot()
	v.appended(now, []auditchain.Head{rec(4)})
	v.checked(b, 2, 21, []byte("b"))
	v.checked(a, 1, 20, []byte("a"))
	got := v.snapshot()
	if !slices.Equal(seqs(got.mine), []int64{4}) || got.cpSeq != 21 {
		t.Fatalf("after checks ending out of order: records %v, checkpoint %d; want [4], 21", seqs(got.mine), got.cpSeq)
	}
}

// TestTrailWatchTrimmedDuringCheck: when the watch is full and drops its
// oldest records while a check runs, the check's end does not also drop
// records appended after its snapshot.
func TestTrailWatchTrimmedDuringCheck(t *testing.T) {
	now := time.Now()
	var w trailWatch
	for i := range int64(maxWatched) {
		w.appended(now, []auditchain.Head{rec(i + 1)})
	}
	s := w.snapshot()
	w.appended(now, []auditchain.Head{rec(maxWatched + 1), rec(maxWatched + 2)})
	w.checked(s, 1, 1, []byte("one"))
	if got := seqs(w.snapshot().mine); !slices.Equal(got, []int64{maxWatched + 1, maxWatched + 2}) {
		t.Fatalf("records left after a check the watch trimmed under: %v", got)
	}
}

// TestAuditWatchBoundsCount: a handle checkpoints before its watch fills,
// whatever CheckpointEvery says, so that it never forgets records it
// appended unchecked in honest operation.
func TestAuditWatchBoundsCount(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "w.db"),
		WithAudit(identity.AuditConfig{Key: make([]byte, 32), CheckpointEvery: 1 << 30, CheckpointInterval: -1}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.appends.Store(maxWatched/2 - 1)
	if err := s.Audit(ctx, identity.Event{Time: time.Now(), Subject: "alice", Action: "login", Result: identity.Success}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM puce_audit_checkpoints`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d checkpoints after %d appends of one handle, want 1 (CheckpointEvery bounded by its watch)", n, maxWatched/2)
	}
}
