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

// checkpointer is a store that seals checkpoints on demand.
type checkpointer interface {
	Checkpoint(ctx context.Context) error
}

func testAudit(t *testing.T, s identity.Store) {
	ctx := context.Background()
	d0, err := s.VerifyAudit(ctx, identity.AuditKeys{})
	mustNoErr(t, err, "verify empty")
	if len(d0) == 0 {
		t.Fatal("no mark for the empty trail")
	}
	for i := range 5 {
		subj := identity.Subject("alice")
		if i%2 == 1 {
			subj = "bob"
		}
		e := identity.Event{Time: Epoch().Add(time.Duration(i) * time.Second), Subject: subj, Kind: identity.KindTOTP,
			CredentialID: "c1", Action: "login", Result: identity.Failure, RemoteAddr: "192.0.2.1", Reason: fmt.Sprintf("attempt %d", i)}
		mustNoErr(t, s.Audit(ctx, e), "audit")
	}
	d, err := s.VerifyAudit(ctx, identity.AuditKeys{})
	mustNoErr(t, err, "verify")
	if bytes.Equal(d, d0) {
		t.Fatalf("the mark %x did not move", d)
	}
	// A trail that grew past a kept mark verifies against it, as against
	// its own.
	for _, m := range [][]byte{d0, d} {
		_, err := s.VerifyAudit(ctx, identity.AuditKeys{Mark: m})
		mustNoErr(t, err, "verify against a kept mark")
	}
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{Mark: d[:len(d)-1]})
	wantErr(t, err, identity.ErrBadInput, "a truncated mark")
	recs, err := s.AuditEvents(ctx, "alice", 0)
	mustNoErr(t, err, "events")
	if len(recs) != 3 || recs[0].Event.Reason != "attempt 4" || recs[2].Event.Reason != "attempt 0" {
		t.Fatalf("alice's events: %+v", recs)
	}
	// One subject, one partition: its records follow each other there.
	if recs[0].Partition != recs[2].Partition || recs[0].Seq <= recs[1].Seq || recs[1].Seq <= recs[2].Seq {
		t.Fatalf("alice's records are not one chain: %+v", recs)
	}
	if e := recs[0].Event; e.Kind != identity.KindTOTP || e.CredentialID != "c1" || e.Action != "login" || e.Result != identity.Failure ||
		e.RemoteAddr != "192.0.2.1" || !e.Time.Equal(Epoch().Add(4*time.Second)) {
		t.Fatalf("event round trip: %+v", recs[0])
	}
	latest, _ := s.AuditEvents(ctx, "", 2)
	if len(latest) != 2 || latest[0].Event.Reason != "attempt 4" || latest[1].Event.Reason != "attempt 3" {
		t.Fatalf("latest two: %+v", latest)
	}
}

func testAuditRace(t *testing.T, a, b identity.Store) {
	ctx := context.Background()
	// Every writer must succeed: no loser error is expected. Half write to
	// one subject (one partition), half to many (all partitions at once).
	won := race(t, 64, a, b, func(s identity.Store, i int) error {
		subj := identity.Subject("alice")
		if i%2 == 1 {
			subj = identity.Subject(fmt.Sprintf("user%d", i))
		}
		return s.Audit(ctx, identity.Event{Time: Epoch(), Subject: subj, Action: "login", Result: identity.Success, Reason: fmt.Sprint(i)})
	}, errNone)
	if won != 64 {
		t.Fatalf("%d of 64 concurrent audit writes succeeded", won)
	}
	if _, err := a.VerifyAudit(ctx, identity.AuditKeys{}); err != nil {
		t.Fatalf("chains written by 64 concurrent writers on two handles: %v", err)
	}
	recs, _ := a.AuditEvents(ctx, "", 0)
	if len(recs) != 64 {
		t.Fatalf("%d records, want 64", len(recs))
	}
}

// auditKey is the checkpoint key of the tests; otherKey is an attacker's.
var (
	auditKey = bytes.Repeat([]byte{0x5a}, 32)
	otherKey = bytes.Repeat([]byte{0xa5}, 32)
)

func testAuditCheckpoints(t *testing.T, f StoreFactory) {
	ctx := context.Background()
	s := f.OpenAudit(t, identity.AuditConfig{Key: auditKey, Partitions: 4, CheckpointEvery: 5, CheckpointInterval: -1})
	for i := range 12 {
		mustNoErr(t, s.Audit(ctx, identity.Event{Time: Epoch(), Subject: identity.Subject(fmt.Sprintf("user%d", i)), Action: "login", Result: identity.Success}), "audit")
	}
	d, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
	mustNoErr(t, err, "verify with the key")
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{Current: otherKey})
	wantErr(t, err, identity.ErrAuditBroken, "verify with another key")
	d2, err := s.VerifyAudit(ctx, identity.AuditKeys{})
	mustNoErr(t, err, "verify the chains alone")
	if !bytes.Equal(d, d2) {
		t.Fatal("the digest depends on the key")
	}
	if f.TamperAudit != nil {
		var n int
		f.TamperAudit(t, s, func(tr *auditchain.Trail) { n = len(tr.Checkpoints) })
		if n != 2 {
			t.Fatalf("%d checkpoints after 12 appends at one every 5, want 2", n)
		}
	}
	// Another partition count later: the old partitions stay verifiable.
	mustNoErr(t, s.(checkpointer).Checkpoint(ctx), "checkpoint")
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
	mustNoErr(t, err, "verify after a checkpoint on demand")
}

// tamperCase is one change an attacker with write access makes, and
// whether VerifyAudit with the key must notice.
type tamperCase struct {
	name   string
	change func(t *testing.T, tr *auditchain.Trail, p int)
	// undetected: the change lies in the window the threat model leaves
	// open (after the last checkpoint), so only the digest tells.
	undetected bool
	// grown: the trail only grew, which a kept mark lets through. The
	// key still tells what was added, before and after the store's next
	// checkpoint: the records carry no seal of the key, or a copied one.
	grown bool
}

// recordsOf returns pointers to partition p's records, by sequence number.
func recordsOf(tr *auditchain.Trail, p int) []*identity.AuditRecord {
	var out []*identity.AuditRecord
	for i := range tr.Records {
		if tr.Records[i].Partition == p {
			out = append(out, &tr.Records[i])
		}
	}
	slices.SortFunc(out, func(a, b *identity.AuditRecord) int { return int(a.Seq - b.Seq) })
	return out
}

func headOf(tr *auditchain.Trail, p int) *auditchain.Head {
	for i := range tr.Heads {
		if tr.Heads[i].Partition == p {
			return &tr.Heads[i]
		}
	}
	return nil
}

// rechain recomputes partition p's hashes from its record at index from,
// and its head, as an attacker without the key can.
func rechain(tr *auditchain.Trail, p, from int) {
	recs := recordsOf(tr, p)
	for i := from; i < len(recs); i++ {
		if i > 0 {
			recs[i].Prev = recs[i-1].Hash
		}
		recs[i].Hash = auditchain.RecordHash(*recs[i])
	}
	h := headOf(tr, p)
	last := recs[len(recs)-1]
	h.Seq, h.Hash = last.Seq, last.Hash
}

// cut deletes partition p's records from sequence number seq on and rolls
// its head back to the record before.
func cut(tr *auditchain.Trail, p int, seq int64) {
	recs := recordsOf(tr, p)
	h := headOf(tr, p)
	h.Seq, h.Hash = recs[seq-2].Seq, recs[seq-2].Hash
	tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == p && r.Seq >= seq })
}

var tamperCases = []tamperCase{
	{name: "edit", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recordsOf(tr, p)[1].Event.Result = identity.Success
	}},
	{name: "delete", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		tr.Records = slices.DeleteFunc(tr.Records, func(r identity.AuditRecord) bool { return r.Partition == p && r.Seq == 2 })
	}},
	{name: "reorder", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recs := recordsOf(tr, p)
		recs[1].Seq, recs[2].Seq = recs[2].Seq, recs[1].Seq
	}},
	{name: "insert", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recs := recordsOf(tr, p)
		for _, r := range recs[2:] {
			r.Seq++
		}
		forged := identity.AuditRecord{Partition: p, Seq: 3, Prev: recs[1].Hash,
			Event: identity.Event{Time: recs[1].Event.Time, Subject: "alice", Action: "login", Result: identity.Success, Reason: "forged"}}
		forged.Hash = auditchain.Hash(p, forged.Prev, forged.Seq, forged.Event)
		tr.Records = append(tr.Records, forged)
	}},
	{name: "move to another partition", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		// The newest record, whose number no other partition has reached.
		recs := recordsOf(tr, p)
		recs[len(recs)-1].Partition = (p + 1) % 4
	}},
	{name: "re-chain without the key", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recordsOf(tr, p)[1].Event.Result = identity.Success
		rechain(tr, p, 1)
	}},
	{name: "truncate with the head rolled back", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		cut(tr, p, 3)
	}},
	{name: "re-chain and seal a checkpoint with another key", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recordsOf(tr, p)[1].Event.Result = identity.Success
		rechain(tr, p, 1)
		last := tr.Checkpoints[len(tr.Checkpoints)-1]
		c := auditchain.Checkpoint{Seq: last.Seq + 1, Time: last.Time, Legacy: last.Legacy, Prev: last.MAC, Heads: slices.Clone(tr.Heads)}
		slices.SortFunc(c.Heads, func(a, b auditchain.Head) int { return a.Partition - b.Partition })
		c.Seal(otherKey)
		tr.Checkpoints = append(tr.Checkpoints, c)
	}},
	{name: "edit a checkpoint", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		cut(tr, p, 3)
		c := &tr.Checkpoints[len(tr.Checkpoints)-1]
		for i := range c.Heads {
			if c.Heads[i].Partition == p {
				c.Heads[i] = *headOf(tr, p)
			}
		}
	}},
	{name: "delete a checkpoint in the middle", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		tr.Checkpoints = slices.Delete(tr.Checkpoints, 0, 1)
	}},
	{name: "truncate after the last checkpoint (the open window)", undetected: true, change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recs := recordsOf(tr, p)
		cut(tr, p, recs[len(recs)-1].Seq)
	}},
	{name: "delete every checkpoint, strip a seal and re-chain everything (the open window)", undetected: true, change: func(t *testing.T, tr *auditchain.Trail, p int) {
		// The key binds only what a kept checkpoint covers: without one,
		// nothing says that records must be sealed.
		tr.Checkpoints = nil
		r := recordsOf(tr, p)[1]
		r.Event.Result = identity.Success
		r.Nonce, r.MAC = nil, nil
		rechain(tr, p, 1)
	}},
	{name: "edit a record after the last checkpoint and re-chain", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recs := recordsOf(tr, p)
		recs[len(recs)-1].Event.Result = identity.Success
		rechain(tr, p, len(recs)-1)
	}},
	{name: "strip the seal of a record after the last checkpoint and re-chain", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recs := recordsOf(tr, p)
		r := recs[len(recs)-1]
		r.Event.Result = identity.Success
		r.Nonce, r.MAC = nil, nil
		rechain(tr, p, len(recs)-1)
	}},
	{name: "strip the seal of a record after the last checkpoint to an empty MAC, its nonce kept, and re-chain", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		// An empty MAC, not NULL, in the database: still no seal.
		recs := recordsOf(tr, p)
		r := recs[len(recs)-1]
		r.Event.Result = identity.Success
		r.MAC = []byte{}
		rechain(tr, p, len(recs)-1)
	}},
	{name: "replace a record after the last checkpoint by an older one's copy", change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recs := recordsOf(tr, p)
		last, old := recs[len(recs)-1], recs[0]
		last.Event, last.Nonce, last.MAC = old.Event, old.Nonce, old.MAC
		rechain(tr, p, len(recs)-1)
	}},
	{name: "append a copy of a genuine record", grown: true, change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recs := recordsOf(tr, p)
		last := recs[len(recs)-1]
		dup := *recs[1]
		dup.Seq, dup.Prev = last.Seq+1, last.Hash
		dup.Hash = auditchain.RecordHash(dup)
		tr.Records = append(tr.Records, dup)
		h := headOf(tr, p)
		h.Seq, h.Hash = dup.Seq, dup.Hash
	}},
	{name: "append a backdated forged record", grown: true, change: func(t *testing.T, tr *auditchain.Trail, p int) {
		recs := recordsOf(tr, p)
		last := recs[len(recs)-1]
		forged := identity.AuditRecord{Partition: p, Seq: last.Seq + 1, Prev: last.Hash,
			Event: identity.Event{Time: Epoch().Add(-time.Hour), Subject: "alice", Action: "login", Result: identity.Success, RemoteAddr: "203.0.113.66"}}
		forged.Hash = auditchain.Hash(p, forged.Prev, forged.Seq, forged.Event)
		tr.Records = append(tr.Records, forged)
		h := headOf(tr, p)
		h.Seq, h.Hash = forged.Seq, forged.Hash
	}},
	{name: "a partition no checkpoint names, backdated", grown: true, change: func(t *testing.T, tr *auditchain.Trail, p int) {
		const q = 9 // beyond the 4 the store writes
		forged := identity.AuditRecord{Partition: q, Seq: 1, Prev: auditchain.Genesis(q, tr.LegacyHead.Hash),
			Event: identity.Event{Time: Epoch().Add(-time.Hour), Subject: "alice", Action: "unlock", Result: identity.Success, Reason: "unlocked by admin"}}
		forged.Hash = auditchain.Hash(q, forged.Prev, forged.Seq, forged.Event)
		tr.Records = append(tr.Records, forged)
		tr.Heads = append(tr.Heads, auditchain.Head{Partition: q, Seq: 1, Hash: forged.Hash})
	}},
	{name: "delete the last checkpoint and what it covers (the open window)", undetected: true, change: func(t *testing.T, tr *auditchain.Trail, p int) {
		tr.Checkpoints = tr.Checkpoints[:len(tr.Checkpoints)-1]
		cut(tr, p, 5)
	}},
}

func testAuditTamper(t *testing.T, f StoreFactory) {
	ctx := context.Background()
	p := auditchain.Partition("alice", 4)
	// fill writes alice's records 1 to 4, a checkpoint, 5 to 8, a second
	// checkpoint, then record 9 after it; other subjects write too.
	fill := func(t *testing.T) (identity.Store, []byte) {
		s := f.OpenAudit(t, identity.AuditConfig{Key: auditKey, Partitions: 4, CheckpointEvery: 1 << 20, CheckpointInterval: -1})
		for i := range 9 {
			for _, subj := range []identity.Subject{"alice", "bob", "carol"} {
				if subj != "alice" && i == 8 {
					continue
				}
				mustNoErr(t, s.Audit(ctx, identity.Event{Time: Epoch().Add(time.Duration(i) * time.Second), Subject: subj, Action: "login",
					Result: identity.Failure, Reason: fmt.Sprint(i)}), "audit")
			}
			if i == 3 || i == 7 {
				mustNoErr(t, s.(checkpointer).Checkpoint(ctx), "checkpoint")
			}
		}
		d, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
		mustNoErr(t, err, "verify before tampering")
		return s, d
	}
	for _, c := range tamperCases {
		t.Run(c.name, func(t *testing.T) {
			s, before := fill(t)
			f.TamperAudit(t, s, func(tr *auditchain.Trail) { c.change(t, tr, p) })
			d, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
			if c.undetected {
				mustNoErr(t, err, "verify a change in the window the keys leave open")
				if bytes.Equal(d, before) {
					t.Fatal("the mark did not change")
				}
			} else {
				wantErr(t, err, identity.ErrAuditBroken, "verify after tampering")
				t.Logf("%s: %v", c.name, err)
			}
			if c.grown {
				// Records added by whoever writes the database, without
				// the key, are a trail that grew: a kept mark alone lets
				// them through, and the key tells them, before and after
				// the store's next checkpoint covers them.
				_, err = s.VerifyAudit(ctx, identity.AuditKeys{Mark: before})
				mustNoErr(t, err, "verify a trail that only grew against the kept mark, without the key")
				mustNoErr(t, s.(checkpointer).Checkpoint(ctx), "checkpoint")
				_, err = s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey, Mark: before})
				wantErr(t, err, identity.ErrAuditBroken, "verify the added records once a checkpoint covered them")
				return
			}
			// The mark kept before the change tells it, keys or no keys.
			for _, keys := range []identity.AuditKeys{{Current: auditKey, Mark: before}, {Mark: before}} {
				_, err = s.VerifyAudit(ctx, keys)
				wantErr(t, err, identity.ErrAuditBroken, "verify against the mark kept before tampering")
			}
			t.Logf("%s, against the kept mark: %v", c.name, err)
		})
	}
	// The key is what stops re-chaining: without it, a re-chained trail
	// whose checkpoints were dropped verifies.
	s, _ := fill(t)
	f.TamperAudit(t, s, func(tr *auditchain.Trail) {
		recordsOf(tr, p)[1].Event.Result = identity.Success
		rechain(tr, p, 1)
		tr.Checkpoints = nil
	})
	_, err := s.VerifyAudit(ctx, identity.AuditKeys{})
	mustNoErr(t, err, "verify a re-chained trail without the key (the chains alone cannot tell)")
}

// testAuditMark: a mark kept outside the database tells a trail cut back
// to an earlier checkpoint — records and the checkpoints after it deleted,
// heads rolled back, so that the keys find nothing wrong — and a trail
// rewritten before it, and it lets through a trail that only grew.
func testAuditMark(t *testing.T, f StoreFactory) {
	ctx := context.Background()
	p := auditchain.Partition("alice", 4)
	s := f.OpenAudit(t, identity.AuditConfig{Key: auditKey, Partitions: 4, CheckpointEvery: 1 << 20, CheckpointInterval: -1})
	login := func(i int) {
		mustNoErr(t, s.Audit(ctx, identity.Event{Time: Epoch().Add(time.Duration(i) * time.Second), Subject: "alice", Action: "login",
			Result: identity.Success, Reason: fmt.Sprint(i)}), "audit")
	}
	for i := range 4 {
		login(i)
	}
	mustNoErr(t, s.(checkpointer).Checkpoint(ctx), "checkpoint")
	login(4)
	kept, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
	mustNoErr(t, err, "verify")
	for i := 5; i < 8; i++ {
		login(i)
	}
	mustNoErr(t, s.(checkpointer).Checkpoint(ctx), "checkpoint")
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey, Mark: kept})
	mustNoErr(t, err, "verify a trail that grew past the kept mark")
	// Cut back to the first checkpoint: record 5 (which the mark covers)
	// and on deleted, the head rolled back, the second checkpoint deleted.
	f.TamperAudit(t, s, func(tr *auditchain.Trail) {
		cut(tr, p, 5)
		tr.Checkpoints = tr.Checkpoints[:1]
	})
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
	mustNoErr(t, err, "verify the cut trail with the key alone (the window the mark closes)")
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey, Mark: kept})
	wantErr(t, err, identity.ErrAuditBroken, "verify the cut trail against the kept mark")
	t.Log(err)
}

func testAuditLegacy(t *testing.T, f StoreFactory) {
	ctx := context.Background()
	// Three records of the single chain older versions wrote.
	var legacy []identity.AuditRecord
	prev := auditchain.Zero()
	for i := range 3 {
		r := identity.AuditRecord{Partition: auditchain.LegacyPartition, Seq: int64(i + 1), Prev: prev,
			Event: identity.Event{Time: Epoch(), Subject: "alice", Action: "login", Result: identity.Success, Reason: fmt.Sprint("old ", i)}}
		r.Hash = auditchain.HashV1(r.Prev, r.Seq, r.Event)
		legacy, prev = append(legacy, r), r.Hash
	}
	head := auditchain.Head{Partition: auditchain.LegacyPartition, Seq: 3, Hash: prev}
	open := func(t *testing.T) identity.Store {
		s := f.OpenAudit(t, identity.AuditConfig{Key: auditKey, Partitions: 4, CheckpointEvery: 1 << 20, CheckpointInterval: -1})
		f.SeedLegacy(t, s, legacy, head)
		for i := range 3 {
			mustNoErr(t, s.Audit(ctx, identity.Event{Time: Epoch(), Subject: "alice", Action: "login", Result: identity.Success, Reason: fmt.Sprint("new ", i)}), "audit")
		}
		mustNoErr(t, s.(checkpointer).Checkpoint(ctx), "checkpoint")
		_, err := s.VerifyAudit(ctx, identity.AuditKeys{Current: auditKey})
		mustNoErr(t, err, "verify a trail that starts with legacy records")
		return s
	}
	s := open(t)
	recs, err := s.AuditEvents(ctx, "alice", 0)
	mustNoErr(t, err, "events")
	if len(recs) != 6 || recs[0].Event.Reason != "new 2" || recs[3].Event.Reason != "old 2" || recs[3].Partition != auditchain.LegacyPartition {
		t.Fatalf("events across the upgrade: %+v", recs)
	}
	f.TamperAudit(t, s, func(tr *auditchain.Trail) { tr.Legacy[1].Event.Result = identity.Failure })
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{})
	wantErr(t, err, identity.ErrAuditBroken, "verify after editing a legacy record")

	// Re-chaining the legacy chain moves every partition's start.
	s = open(t)
	f.TamperAudit(t, s, func(tr *auditchain.Trail) {
		tr.Legacy[1].Event.Result = identity.Failure
		for i := 1; i < len(tr.Legacy); i++ {
			if i > 1 {
				tr.Legacy[i].Prev = tr.Legacy[i-1].Hash
			}
			tr.Legacy[i].Hash = auditchain.HashV1(tr.Legacy[i].Prev, tr.Legacy[i].Seq, tr.Legacy[i].Event)
		}
		tr.LegacyHead.Hash = tr.Legacy[len(tr.Legacy)-1].Hash
	})
	_, err = s.VerifyAudit(ctx, identity.AuditKeys{})
	wantErr(t, err, identity.ErrAuditBroken, "verify after re-chaining the legacy records")
}
