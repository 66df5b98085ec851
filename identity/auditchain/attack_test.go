package auditchain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
)

// Attacks on sealed records by whoever writes the database, without the
// current key (an adversarial review of "every record sealed"): each
// either is reported, or lies in a window the threat model names.

func wantBroken(t *testing.T, err error, says string) {
	t.Helper()
	if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), says) {
		t.Fatalf("verify: %v, want ErrAuditBroken saying %q", err, says)
	}
}

// TestSealUpgradeOldInstanceAfterWindow: an older puce still appending
// after SealUpgradeWindow (or a deploy rolled back to it) writes v1
// checkpoints only. Its unsealed records after such a checkpoint dated past
// the window were appended past it, and must be reported like those after
// a sealing checkpoint: otherwise the trail silently stops requiring seals
// for as long as no newer instance writes a checkpoint, and whoever writes
// the database adds records the next v1 checkpoint covers.
func TestSealUpgradeOldInstanceAfterWindow(t *testing.T) {
	keys := identity.AuditKeys{Current: k1}
	b := &trail{}
	b.record(nil)
	b.checkpoint(k1, false)
	b.checkpoint(k1, true) // the first newer instance
	b.record(k1)
	b.now = auditchain.SealUpgradeWindow + time.Hour
	b.checkpoint(k1, false) // an older instance, still running
	b.record(nil)
	_, err := auditchain.Verify(&b.tr, keys)
	wantBroken(t, err, "record 3 carries no seal, and checkpoint 3 requires one")

	// Dated within the window, the older instance's v1 checkpoint changes
	// nothing.
	b = &trail{}
	b.checkpoint(k1, false)
	b.checkpoint(k1, true)
	b.now = auditchain.SealUpgradeWindow - time.Microsecond
	b.checkpoint(k1, false)
	b.record(nil)
	if _, err := auditchain.Verify(&b.tr, keys); err != nil {
		t.Fatalf("an unsealed record after a v1 checkpoint within the window: %v", err)
	}
}

// TestSealUpgradeEqualDates: checkpoints dated alike (a store never dates
// one before the last) neither open the window twice nor close it early.
func TestSealUpgradeEqualDates(t *testing.T) {
	keys := identity.AuditKeys{Current: k1}
	b := &trail{}
	b.checkpoint(k1, false)
	b.checkpoint(k1, true)
	b.checkpoint(k1, false)
	b.checkpoint(k1, true) // the same instant: the window is where it was
	b.record(nil)
	if _, err := auditchain.Verify(&b.tr, keys); err != nil {
		t.Fatal(err)
	}
	b.now = auditchain.SealUpgradeWindow
	b.checkpoint(k1, true)
	b.checkpoint(k1, true)
	b.record(nil)
	_, err := auditchain.Verify(&b.tr, keys)
	wantBroken(t, err, "record 2 carries no seal, and checkpoint 5 requires one")
}

// TestSealCopyAcrossPartitionsStream: records reach the Verifier by
// partition then sequence number, and it keeps one partition's nonces at a
// time. A store (or a database's ORDER BY an attacker changed) that
// streamed them otherwise would let a copied record through unseen, so the
// Verifier refuses the order rather than check less than it says.
func TestSealCopyAcrossPartitionsStream(t *testing.T) {
	seals := auditchain.NewRecordKey(k1)
	rec := func(p int, seq int64, prev []byte, e identity.Event, from *identity.AuditRecord) identity.AuditRecord {
		r := identity.AuditRecord{Partition: p, Seq: seq, Prev: prev, Event: e}
		if from != nil {
			r.Event, r.Nonce, r.MAC = from.Event, from.Nonce, from.MAC
		} else {
			r.Nonce, r.MAC = seals.Seal(p, e)
		}
		r.Hash = auditchain.RecordHash(r)
		return r
	}
	e := identity.Event{Time: identitytest.Epoch(), Subject: "alice", Action: "login", Result: identity.Success}
	a1 := rec(0, 1, auditchain.Genesis(0, auditchain.Zero()), e, nil)
	b1 := rec(1, 1, auditchain.Genesis(1, auditchain.Zero()), e, nil)
	a2 := rec(0, 2, a1.Hash, e, &a1) // a1 copied to the end of partition 0
	c := auditchain.Checkpoint{Seq: 1, Time: identitytest.Epoch(), Prev: auditchain.Zero(),
		Legacy: auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}}
	c.Seal(k1)
	v, err := auditchain.NewVerifier(identity.AuditKeys{Current: k1})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Checkpoint(c); err != nil {
		t.Fatal(err)
	}
	for _, r := range []identity.AuditRecord{a1, b1} {
		if err := v.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	wantBroken(t, v.Record(a2), "partition 0 after partition 1")

	// In order, the copy is found.
	tr := &auditchain.Trail{Records: []identity.AuditRecord{a1, a2, b1}, Checkpoints: []auditchain.Checkpoint{c},
		Heads: []auditchain.Head{{Partition: 0, Seq: 2, Hash: a2.Hash}, {Partition: 1, Seq: 1, Hash: b1.Hash}}}
	_, err = auditchain.Verify(tr, identity.AuditKeys{Current: k1})
	wantBroken(t, err, "records 1 and 2 carry the same seal")
}

// TestSealCopyInterleaved: in an upgraded trail, sealed and unsealed
// records alternate in a partition, and partitions without a sealed record
// sit between those with one; a copy is found all the same, in the first
// partition, a middle one and the last.
func TestSealCopyInterleaved(t *testing.T) {
	seals := auditchain.NewRecordKey(k1)
	for _, victim := range []int{0, 2, 4} {
		tr := &auditchain.Trail{}
		var copied identity.AuditRecord
		for p := range 5 {
			h := auditchain.Head{Partition: p, Hash: auditchain.Genesis(p, auditchain.Zero())}
			for i := range 4 {
				r := identity.AuditRecord{Partition: p, Seq: h.Seq + 1, Prev: h.Hash,
					Event: identity.Event{Time: identitytest.Epoch(), Subject: "alice", Action: "login", Result: identity.Success}}
				switch {
				case p == 1 || p == 3 || i%2 == 1: // unsealed: an older instance
				case p == victim && i == 2:
					r.Event, r.Nonce, r.MAC = copied.Event, copied.Nonce, copied.MAC
				default:
					r.Nonce, r.MAC = seals.Seal(p, r.Event)
					if p == victim && i == 0 {
						copied = r
					}
				}
				r.Hash = auditchain.RecordHash(r)
				tr.Records = append(tr.Records, r)
				h.Seq, h.Hash = r.Seq, r.Hash
			}
			tr.Heads = append(tr.Heads, h)
		}
		b := &trail{tr: *tr}
		b.tr.Checkpoints = nil
		// A v1 checkpoint, then the first sealing one: the window is open,
		// so only the copy can be wrong.
		for _, sealing := range []bool{false, true} {
			c := auditchain.Checkpoint{Seq: int64(len(b.tr.Checkpoints) + 1), Time: identitytest.Epoch(), Prev: auditchain.Zero(),
				Legacy: auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}}
			if n := len(b.tr.Checkpoints); n > 0 {
				c.Prev = b.tr.Checkpoints[n-1].MAC
			}
			if sealing {
				c.Seal(k1)
			} else {
				auditchain.SealV1(&c, k1)
			}
			b.tr.Checkpoints = append(b.tr.Checkpoints, c)
		}
		_, err := auditchain.Verify(&b.tr, identity.AuditKeys{Current: k1})
		wantBroken(t, err, fmt.Sprintf("partition %d: records 1 and 3 carry the same seal", victim))
	}
}

// TestSealMalformed: a seal of the wrong shape is reported, whatever the
// rest of the record.
func TestSealMalformed(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(r *identity.AuditRecord)
		says string
	}{
		{"nonce of 17 bytes", func(r *identity.AuditRecord) { r.Nonce = append(r.Nonce, 0) }, "nonce of 17 bytes"},
		{"no nonce", func(r *identity.AuditRecord) { r.Nonce = nil }, "nonce of 0 bytes"},
		{"MAC cut short", func(r *identity.AuditRecord) { r.MAC = r.MAC[:16] }, "not sealed by any audit key"},
		{"nonce kept, MAC empty", func(r *identity.AuditRecord) { r.MAC = []byte{} }, "carries no seal"},
		{"seal of the record before", nil, "not sealed by any audit key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &trail{}
			b.checkpoint(k1, true)
			b.record(k1)
			b.record(k1)
			r := &b.tr.Records[1]
			if c.edit != nil {
				c.edit(r)
			} else {
				r.Nonce, r.MAC = b.tr.Records[0].Nonce, b.tr.Records[0].MAC
			}
			r.Hash = auditchain.RecordHash(*r)
			b.tr.Heads[0].Hash = r.Hash
			_, err := auditchain.Verify(&b.tr, identity.AuditKeys{Current: k1})
			wantBroken(t, err, c.says)
		})
	}
}

// TestSealRetiredKeyPartitions: the records a retired key may still seal
// end, in every partition, at the first checkpoint dated after its
// overlap; a partition that checkpoint does not name (one added later, or
// made up) gets none. A record sealed with the current key before any
// checkpoint under it, between the old key's, is the rolling deploy.
func TestSealRetiredKeyPartitions(t *testing.T) {
	keys := identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, time.Hour)}}
	b := &trail{}
	b.checkpoint(k1, true)
	b.record(k2) // a new instance, before any checkpoint under k2
	b.now = time.Minute
	b.checkpoint(k1, true) // an old instance
	b.record(k1)
	b.now = 2 * time.Minute
	b.checkpoint(k2, true)
	b.now = 2 * time.Hour
	b.checkpoint(k2, true) // after k1's overlap: k1 seals nothing more
	if _, err := auditchain.Verify(&b.tr, keys); err != nil {
		t.Fatal(err)
	}
	const q = 7
	seals := auditchain.NewRecordKey(k1)
	r := identity.AuditRecord{Partition: q, Seq: 1, Prev: auditchain.Genesis(q, auditchain.Zero()),
		Event: identity.Event{Time: identitytest.Epoch(), Subject: "mallory", Action: "unlock", Result: identity.Success}}
	r.Nonce, r.MAC = seals.Seal(q, r.Event)
	r.Hash = auditchain.RecordHash(r)
	b.tr.Records = append(b.tr.Records, r)
	b.tr.Heads = append(b.tr.Heads, auditchain.Head{Partition: q, Seq: 1, Hash: r.Hash})
	_, err := auditchain.Verify(&b.tr, keys)
	wantBroken(t, err, "partition 7: record 1 is sealed with retired audit key 0 but follows checkpoint 4")
}

// TestCheckpointTime: a store follows the last checkpoint's date when it
// is ahead of its clock by at most MaxCheckpointLead, and dates by its own
// clock otherwise.
func TestCheckpointTime(t *testing.T) {
	now := identitytest.Epoch()
	for _, c := range []struct {
		last  time.Time
		want  time.Time
		ahead bool
	}{
		{time.Time{}, now, false},
		{now.Add(-time.Hour), now, false},
		{now, now, false},
		{now.Add(auditchain.MaxCheckpointLead), now.Add(auditchain.MaxCheckpointLead), false},
		{now.Add(auditchain.MaxCheckpointLead + time.Microsecond), now, true},
		{now.AddDate(10, 0, 0), now, true},
	} {
		if got, ahead := auditchain.CheckpointTime(now, c.last); !got.Equal(c.want) || ahead != c.ahead {
			t.Errorf("CheckpointTime(now, %v) = %v, %v; want %v, %v", c.last, got, ahead, c.want, c.ahead)
		}
	}
}

// TestSealDowngradeToV1: whoever writes the database turns an upgraded
// trail back into an older puce's: every sealing checkpoint deleted (the
// newest, so the chain of MACs holds), every seal stripped, the chains
// recomputed. Nothing in the database then requires a seal — the threat
// model's "newest checkpoints deleted" — and the mark kept from the last
// verification tells it.
func TestSealDowngradeToV1(t *testing.T) {
	keys := identity.AuditKeys{Current: k1}
	b := &trail{}
	b.record(nil)
	b.checkpoint(k1, false)
	b.record(nil)
	b.checkpoint(k1, true)
	b.record(k1)
	b.now = auditchain.SealUpgradeWindow
	b.checkpoint(k1, true)
	b.record(k1)
	mark, err := auditchain.Verify(&b.tr, keys)
	if err != nil {
		t.Fatal(err)
	}
	b.tr.Checkpoints = b.tr.Checkpoints[:1]
	for i := range b.tr.Records {
		r := &b.tr.Records[i]
		r.Nonce, r.MAC = nil, nil
		if i > 0 {
			r.Prev = b.tr.Records[i-1].Hash
		}
		r.Hash = auditchain.RecordHash(*r)
	}
	b.tr.Heads[0].Hash = b.tr.Records[len(b.tr.Records)-1].Hash
	// The v1 checkpoint covers record 1 only, which kept its hash.
	if _, err := auditchain.Verify(&b.tr, keys); err != nil {
		t.Fatalf("the downgraded trail, without the mark (the open window): %v", err)
	}
	_, err = auditchain.Verify(&b.tr, identity.AuditKeys{Current: k1, Mark: mark})
	wantBroken(t, err, "kept mark")
}
