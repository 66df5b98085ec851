package auditchain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
)

// TestFresh: with AuditKeys.Fresh, a trail whose newest checkpoint is older
// than Fresh at Now — cut back to an earlier checkpoint, every checkpoint
// gone — is broken; the key alone lets it through.
func TestFresh(t *testing.T) {
	b := &trail{}
	b.record(k1)
	b.checkpoint(k1, true)
	b.now = time.Hour
	b.record(k1)
	b.checkpoint(k1, true)
	at := func(d time.Duration, fresh time.Duration) identity.AuditKeys {
		return identity.AuditKeys{Current: k1, Fresh: fresh, Now: identitytest.Epoch().Add(d)}
	}
	if _, err := auditchain.Verify(&b.tr, at(time.Hour+4*time.Minute, 10*time.Minute)); err != nil {
		t.Fatalf("a checkpoint 4 minutes old, 10 allowed: %v", err)
	}
	_, err := auditchain.Verify(&b.tr, at(time.Hour+11*time.Minute, 10*time.Minute))
	if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "checkpoint, 2, is dated") {
		t.Fatalf("a checkpoint 11 minutes old, 10 allowed: %v", err)
	}

	// Cut back to the first checkpoint, its record and head kept: the key
	// alone finds nothing; Fresh does.
	cut := b.tr
	cut.Checkpoints = cut.Checkpoints[:1]
	cut.Records = cut.Records[:1]
	cut.Heads = []auditchain.Head{{Partition: 0, Seq: 1, Hash: cut.Records[0].Hash}}
	if _, err := auditchain.Verify(&cut, identity.AuditKeys{Current: k1}); err != nil {
		t.Fatalf("the cut trail with the key alone: %v", err)
	}
	if _, err := auditchain.Verify(&cut, at(time.Hour+4*time.Minute, 10*time.Minute)); !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("the cut trail with Fresh: %v", err)
	}

	none := cut
	none.Checkpoints = nil
	_, err = auditchain.Verify(&none, at(0, 10*time.Minute))
	if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "no checkpoint") {
		t.Fatalf("no checkpoint with Fresh: %v", err)
	}

	for _, k := range []identity.AuditKeys{{Fresh: time.Minute}, {Current: k1, Fresh: -time.Minute}} {
		if _, err := auditchain.Verify(&b.tr, k); !errors.Is(err, identity.ErrBadInput) {
			t.Fatalf("Fresh %v, key %v: %v, want ErrBadInput", k.Fresh, k.Current != nil, err)
		}
	}
}

// TestTrailChangedRecord: the record a store appends when it finds the
// trail changed behind it breaks the trail when the key sealed it, and
// only then: anyone could write an unsealed one.
func TestTrailChangedRecord(t *testing.T) {
	alarm := func(key []byte) *trail {
		b := &trail{}
		b.record(k1)
		h := b.head()
		r := identity.AuditRecord{Partition: 0, Seq: h.Seq + 1, Prev: h.Hash,
			Event: identity.Event{Time: identitytest.Epoch(), Action: auditchain.ActionTrailChanged, Result: identity.Failure,
				Reason: "record 1 of partition 0, which this store appended, is gone (records deleted)"}}
		if key != nil {
			r.Nonce, r.MAC = auditchain.NewRecordKey(key).Seal(0, r.Event)
		}
		r.Hash = auditchain.RecordHash(r)
		b.tr.Records = append(b.tr.Records, r)
		b.tr.Heads[0] = auditchain.Head{Partition: 0, Seq: r.Seq, Hash: r.Hash}
		b.checkpoint(k1, true)
		b.record(k1)
		return b
	}
	_, err := auditchain.Verify(&alarm(k1).tr, identity.AuditKeys{Current: k1})
	if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "a store found the trail changed behind it") ||
		!strings.Contains(err.Error(), "is gone (records deleted)") {
		t.Fatalf("a sealed alarm: %v", err)
	}
	// The chains alone cannot tell who wrote it.
	if _, err := auditchain.Verify(&alarm(k1).tr, identity.AuditKeys{}); err != nil {
		t.Fatalf("a sealed alarm, verified without the key: %v", err)
	}
	// Unsealed where seals are not required yet (before the first
	// sealing checkpoint): not the store's, so not an alarm.
	b := &trail{}
	h := b.head()
	r := identity.AuditRecord{Partition: 0, Seq: 1, Prev: h.Hash,
		Event: identity.Event{Time: identitytest.Epoch(), Action: auditchain.ActionTrailChanged, Result: identity.Failure, Reason: "made up"}}
	r.Hash = auditchain.RecordHash(r)
	b.tr.Records = append(b.tr.Records, r)
	b.tr.Heads[0] = auditchain.Head{Partition: 0, Seq: 1, Hash: r.Hash}
	if _, err := auditchain.Verify(&b.tr, identity.AuditKeys{Current: k1}); err != nil {
		t.Fatalf("an unsealed alarm before any checkpoint: %v", err)
	}
}

// TestFreshFutureCheckpoint: a newest checkpoint dated further ahead of Now
// than auditchain.MaxCheckpointLead (a clock far wrong: no store follows a
// lead that long, see CheckpointTime) cannot show the trail fresh. Before,
// its negative age passed, so a trail cut back to it went through Fresh
// for as long as it stayed ahead, without bound. A lead within
// MaxCheckpointLead is a tolerated clock skew and passes.
func TestFreshFutureCheckpoint(t *testing.T) {
	b := &trail{}
	b.record(k1)
	b.now = time.Hour
	b.checkpoint(k1, true)
	at := func(lead time.Duration) identity.AuditKeys {
		return identity.AuditKeys{Current: k1, Fresh: 10 * time.Minute, Now: identitytest.Epoch().Add(time.Hour - lead)}
	}
	if _, err := auditchain.Verify(&b.tr, at(auditchain.MaxCheckpointLead-time.Minute)); err != nil {
		t.Fatalf("the newest checkpoint dated %v ahead: %v", auditchain.MaxCheckpointLead-time.Minute, err)
	}
	for _, lead := range []time.Duration{auditchain.MaxCheckpointLead + time.Minute, 24 * time.Hour} {
		_, err := auditchain.Verify(&b.tr, at(lead))
		if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "ahead of") {
			t.Fatalf("the newest checkpoint dated %v ahead: %v, want ErrAuditBroken", lead, err)
		}
	}
	// Without Fresh, dates are not judged against the time of the call.
	if _, err := auditchain.Verify(&b.tr, identity.AuditKeys{Current: k1, Now: identitytest.Epoch()}); err != nil {
		t.Fatal(err)
	}
}
