package identitytest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
)

// newKey is the key the rotation tests replace auditKey with.
var newKey = bytes.Repeat([]byte{0x3c}, 32)

// rollout is a store during a rotation of its audit key: the instances
// still on the old key (auditKey) and those on the new one (newKey) write
// one trail, each dating its checkpoints by its own clock.
type rollout struct {
	s                  identity.Store
	old, new           identity.Store
	oldClock, newClock *Clock
}

func openRollout(t *testing.T, f StoreFactory) *rollout {
	cfg := func(key []byte) identity.AuditConfig {
		return identity.AuditConfig{Key: key, Partitions: 4, CheckpointEvery: 1 << 20, CheckpointInterval: -1}
	}
	r := &rollout{s: f.OpenAudit(t, cfg(nil)), oldClock: NewClock(Epoch()), newClock: NewClock(Epoch())}
	r.old = f.AuditHandle(t, r.s, cfg(auditKey), r.oldClock)
	r.new = f.AuditHandle(t, r.s, cfg(newKey), r.newClock)
	return r
}

// at has h write two events and a checkpoint with its clock at Epoch + d.
func (r *rollout) at(t *testing.T, h identity.Store, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	clock := r.oldClock
	if h == r.new {
		clock = r.newClock
	}
	clock.Set(Epoch().Add(d))
	for _, subj := range []identity.Subject{"alice", "bob"} {
		mustNoErr(t, h.Audit(ctx, identity.Event{Time: Epoch().Add(d), Subject: subj, Action: "login", Result: identity.Success, Reason: fmt.Sprint(d)}), "audit")
	}
	mustNoErr(t, h.(checkpointer).Checkpoint(ctx), "checkpoint")
}

// rotated are the keys of a rolling deploy from auditKey to newKey that
// lasted overlap.
func rotated(overlap time.Duration) identity.AuditKeys {
	return identity.AuditKeys{Current: newKey, Retired: []identity.RetiredAuditKey{{Key: auditKey, Overlap: overlap}}}
}

// forge appends a checkpoint sealed with key and dated at, chained to the
// last one and naming the heads as they are: what whoever holds a leaked
// key writes into the database.
func forge(tr *auditchain.Trail, key []byte, at time.Time) {
	last := tr.Checkpoints[len(tr.Checkpoints)-1]
	c := auditchain.Checkpoint{Seq: last.Seq + 1, Time: at, Legacy: last.Legacy, Prev: last.MAC, Heads: slices.Clone(tr.Heads)}
	slices.SortFunc(c.Heads, func(a, b auditchain.Head) int { return a.Partition - b.Partition })
	c.Seal(key)
	tr.Checkpoints = append(tr.Checkpoints, c)
}

func testAuditRotation(t *testing.T, f StoreFactory) {
	ctx := context.Background()
	m := time.Minute
	t.Run("rotated", func(t *testing.T) {
		r := openRollout(t, f)
		r.at(t, r.old, 0)
		r.at(t, r.old, m)
		r.at(t, r.new, 2*m)
		r.at(t, r.new, 3*m)
		d, err := r.s.VerifyAudit(ctx, rotated(0))
		mustNoErr(t, err, "verify with the old key retired")
		_, err = r.s.VerifyAudit(ctx, identity.AuditKeys{Current: newKey})
		wantErr(t, err, identity.ErrAuditBroken, "verify without the old key (destroyed)")
		_, err = r.s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
		wantErr(t, err, identity.ErrAuditBroken, "verify with the old key alone")
		_, err = r.s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey, Retired: []identity.RetiredAuditKey{{Key: newKey, Overlap: m}}})
		wantErr(t, err, identity.ErrAuditBroken, "verify with the keys in the wrong order")
		d2, err := r.s.VerifyAudit(ctx, identity.AuditKeys{})
		mustNoErr(t, err, "verify the chains alone")
		if !bytes.Equal(d, d2) {
			t.Fatal("the digest depends on the keys")
		}
	})
	t.Run("rolling deploy", func(t *testing.T) {
		r := openRollout(t, f)
		for i, h := range []identity.Store{r.old, r.new, r.old, r.new, r.old, r.new} {
			r.at(t, h, time.Duration(i)*m)
		}
		// The new key's first checkpoint is at 1m, the old key's last at 4m.
		_, err := r.s.VerifyAudit(ctx, rotated(3*m))
		mustNoErr(t, err, "verify a deploy within the overlap")
		_, err = r.s.VerifyAudit(ctx, rotated(2*m))
		wantErr(t, err, identity.ErrAuditBroken, "verify a deploy longer than the overlap")
		t.Logf("longer than the overlap: %v", err)
	})
	t.Run("old instance after the overlap", func(t *testing.T) {
		r := openRollout(t, f)
		r.at(t, r.old, 0)
		r.at(t, r.new, m)
		r.at(t, r.old, time.Hour)
		_, err := r.s.VerifyAudit(ctx, rotated(10*m))
		wantErr(t, err, identity.ErrAuditBroken, "verify a checkpoint under the old key an hour after the new one's first")
	})
	t.Run("old instance's records after the overlap", func(t *testing.T) {
		// Records sealed with the old key verify up to the first
		// checkpoint dated after its overlap, not after it.
		r := openRollout(t, f)
		r.at(t, r.old, 0)
		r.at(t, r.new, m)
		mustNoErr(t, r.old.Audit(ctx, identity.Event{Time: Epoch().Add(5 * m), Subject: "alice", Action: "login", Result: identity.Success}), "audit")
		r.at(t, r.new, 20*m)
		_, err := r.s.VerifyAudit(ctx, rotated(10*m))
		mustNoErr(t, err, "verify the old key's records within the overlap")
		mustNoErr(t, r.old.Audit(ctx, identity.Event{Time: Epoch().Add(21 * m), Subject: "alice", Action: "login", Result: identity.Success}), "audit")
		_, err = r.s.VerifyAudit(ctx, rotated(10*m))
		wantErr(t, err, identity.ErrAuditBroken, "verify a record sealed with the old key after the first checkpoint past its overlap")
		t.Log(err)
	})
	t.Run("clocks skewed", func(t *testing.T) {
		// The new instances' clocks run four minutes ahead of the old
		// ones' (within auditchain.MaxCheckpointLead): the old key's
		// checkpoints are dated no earlier than the new key's before them,
		// so an overlap of the deploy's length (one minute) covers them.
		r := openRollout(t, f)
		r.at(t, r.old, 0)
		r.at(t, r.new, 5*m)
		r.at(t, r.old, 1*m)
		r.at(t, r.new, 6*m)
		r.at(t, r.old, 2*m)
		_, err := r.s.VerifyAudit(ctx, rotated(m))
		mustNoErr(t, err, "verify a deploy whose instances' clocks differ")
		if f.TamperAudit == nil {
			return
		}
		f.TamperAudit(t, r.s, func(tr *auditchain.Trail) {
			for i := 1; i < len(tr.Checkpoints); i++ {
				if tr.Checkpoints[i].Time.Before(tr.Checkpoints[i-1].Time) {
					t.Errorf("checkpoint %d is dated %s, before checkpoint %d at %s", tr.Checkpoints[i].Seq, tr.Checkpoints[i].Time,
						tr.Checkpoints[i-1].Seq, tr.Checkpoints[i-1].Time)
				}
			}
			if n := len(tr.Checkpoints); n != 5 || !tr.Checkpoints[4].Time.Equal(Epoch().Add(6*m)) {
				t.Errorf("%d checkpoints, the last at %v", n, tr.Checkpoints[n-1].Time)
			}
		})
	})
	if f.TamperAudit == nil {
		return
	}
	// A leaked old key, used by whoever can write the database.
	forged := func(t *testing.T, at time.Duration) (identity.Store, []byte) {
		r := openRollout(t, f)
		r.at(t, r.old, 0)
		r.at(t, r.new, m)
		r.at(t, r.new, 5*m)
		before, err := r.s.VerifyAudit(ctx, rotated(10*m))
		mustNoErr(t, err, "verify before the forgery")
		f.TamperAudit(t, r.s, func(tr *auditchain.Trail) { forge(tr, auditKey, Epoch().Add(at)) })
		return r.s, before
	}
	t.Run("forged with the old key after the overlap", func(t *testing.T) {
		s, _ := forged(t, 12*m)
		_, err := s.VerifyAudit(ctx, rotated(10*m))
		wantErr(t, err, identity.ErrAuditBroken, "verify a checkpoint forged with the old key after its overlap")
	})
	t.Run("forged with the old key, dated back into the overlap", func(t *testing.T) {
		s, _ := forged(t, 3*m)
		_, err := s.VerifyAudit(ctx, rotated(10*m))
		wantErr(t, err, identity.ErrAuditBroken, "verify a checkpoint forged with the old key, dated before the one it follows")
	})
	t.Run("the old key's overlap moved ahead through a checkpoint's date", func(t *testing.T) {
		// A store dates a checkpoint no earlier than the last one, which
		// it reads from the database. Whoever writes the database dates
		// the last old-key checkpoint ten years ahead, lets the first
		// new-key checkpoint follow it, and puts the date back (so that
		// the old one's MAC verifies again): the old key's overlap would
		// then start ten years ahead, every checkpoint since dated there
		// too, and a leaked old key would keep sealing checkpoints and
		// records for ten years. A date further ahead of the store's clock
		// than auditchain.MaxCheckpointLead is not followed.
		r := openRollout(t, f)
		r.at(t, r.old, 0)
		var was time.Time
		f.TamperAudit(t, r.s, func(tr *auditchain.Trail) {
			c := &tr.Checkpoints[len(tr.Checkpoints)-1]
			was, c.Time = c.Time, c.Time.AddDate(10, 0, 0)
		})
		r.at(t, r.new, m)
		f.TamperAudit(t, r.s, func(tr *auditchain.Trail) { tr.Checkpoints[0].Time = was })
		r.at(t, r.new, time.Hour)
		_, err := r.s.VerifyAudit(ctx, rotated(10*m))
		mustNoErr(t, err, "verify the genuine checkpoints")
		f.TamperAudit(t, r.s, func(tr *auditchain.Trail) {
			forge(tr, auditKey, tr.Checkpoints[len(tr.Checkpoints)-1].Time.Add(m))
		})
		_, err = r.s.VerifyAudit(ctx, rotated(10*m))
		wantErr(t, err, identity.ErrAuditBroken, "verify a checkpoint forged with the old key after its overlap, moved ahead")
		t.Log(err)
	})
	t.Run("forged with the old key inside the overlap (the open window)", func(t *testing.T) {
		// What the threat model concedes to a leaked retired key: a
		// checkpoint of its own within its overlap, after the trail's last
		// one. The trail must then end near the rotation, which the digest
		// an operator kept tells.
		s, before := forged(t, 6*m)
		d, err := s.VerifyAudit(ctx, rotated(10*m))
		mustNoErr(t, err, "verify a checkpoint forged within the overlap")
		if bytes.Equal(d, before) {
			t.Fatal("the digest did not change")
		}
	})
}

func testAuditKeysChecked(t *testing.T, s identity.Store) {
	ctx := context.Background()
	short := bytes.Repeat([]byte{1}, 31)
	for i, keys := range []identity.AuditKeys{
		{Current: short},
		{Current: newKey, Retired: []identity.RetiredAuditKey{{Key: short}}},
		{Current: newKey, Retired: []identity.RetiredAuditKey{{Key: auditKey}, {Key: auditKey}}},
		{Current: newKey, Retired: []identity.RetiredAuditKey{{Key: newKey}}},
		{Current: newKey, Retired: []identity.RetiredAuditKey{{Key: auditKey, Overlap: -time.Second}}},
		{Retired: []identity.RetiredAuditKey{{Key: auditKey}}},
	} {
		_, err := s.VerifyAudit(ctx, keys)
		wantErr(t, err, identity.ErrBadInput, fmt.Sprint("verify with bad keys ", i))
	}
}
