package auditchain

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/puce-id/puce/identity"
)

// Verifier checks a whole trail streamed through it, in this order:
// Legacy for each record of the legacy chain by sequence number, EndLegacy
// with the legacy head row, Checkpoint for each checkpoint by sequence
// number, Record for each partitioned record by partition then sequence
// number, and Finish with the partitions' head rows. Every error wraps
// identity.ErrAuditBroken and names the first bad record.
type Verifier struct {
	// Key authenticates checkpoints; nil checks chains only (see the
	// package's threat model).
	Key []byte

	legacy     Head
	legacyEnd  bool
	last       *Checkpoint
	claims     map[int]map[int64][]byte
	claimedMax map[int]int64
	parts      map[int]*Head
	records    int64
}

func broken(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{identity.ErrAuditBroken}, args...)...)
}

// Legacy checks the next record of the legacy single chain.
func (v *Verifier) Legacy(r identity.AuditRecord) error {
	if v.legacy.Hash == nil {
		v.legacy = Head{Partition: LegacyPartition, Hash: Zero()}
	}
	want := v.legacy.Seq + 1
	switch {
	case r.Seq != want:
		return broken("legacy record %d expected, found %d (a record is missing or moved)", want, r.Seq)
	case subtle.ConstantTimeCompare(r.Prev, v.legacy.Hash) != 1:
		return broken("legacy record %d does not follow record %d", r.Seq, v.legacy.Seq)
	case subtle.ConstantTimeCompare(r.Hash, HashV1(r.Prev, r.Seq, r.Event)) != 1:
		return broken("legacy record %d was altered", r.Seq)
	}
	v.legacy.Seq, v.legacy.Hash = r.Seq, r.Hash
	v.records++
	return nil
}

// EndLegacy compares the end of the legacy chain with its head row.
func (v *Verifier) EndLegacy(head Head) error {
	if v.legacy.Hash == nil {
		v.legacy = Head{Partition: LegacyPartition, Hash: Zero()}
	}
	if head.Seq != v.legacy.Seq || !bytes.Equal(head.Hash, v.legacy.Hash) {
		return broken("the legacy chain ends at record %d but its head says %d", v.legacy.Seq, head.Seq)
	}
	v.legacyEnd = true
	return nil
}

// Checkpoint checks the next checkpoint: its place in the chain of
// checkpoints and, with a Key, its MAC. The heads it names are checked as
// the records go by.
func (v *Verifier) Checkpoint(c Checkpoint) error {
	if !v.legacyEnd {
		if err := v.EndLegacy(Head{Hash: Zero()}); err != nil {
			return err
		}
	}
	want, prev := int64(1), Zero()
	if v.last != nil {
		want, prev = v.last.Seq+1, v.last.MAC
	}
	switch {
	case c.Seq != want:
		return broken("checkpoint %d expected, found %d", want, c.Seq)
	case !bytes.Equal(c.Prev, prev):
		return broken("checkpoint %d does not follow checkpoint %d", c.Seq, want-1)
	case v.Key != nil && !hmac.Equal(c.MAC, c.mac(v.Key)):
		return broken("checkpoint %d does not verify under the audit key (forged, altered, or another key)", c.Seq)
	case c.Legacy.Seq != v.legacy.Seq || !bytes.Equal(c.Legacy.Hash, v.legacy.Hash):
		return broken("checkpoint %d names another legacy chain than the one kept", c.Seq)
	}
	if v.claims == nil {
		v.claims, v.claimedMax = map[int]map[int64][]byte{}, map[int]int64{}
	}
	for _, h := range c.Heads {
		if h.Partition < 0 || h.Partition >= MaxPartitions || h.Seq < 0 {
			return broken("checkpoint %d names partition %d, record %d", c.Seq, h.Partition, h.Seq)
		}
		m := v.claims[h.Partition]
		if m == nil {
			m = map[int64][]byte{}
			v.claims[h.Partition] = m
		}
		if old, ok := m[h.Seq]; ok && !bytes.Equal(old, h.Hash) {
			return broken("checkpoints disagree on record %d of partition %d", h.Seq, h.Partition)
		}
		m[h.Seq] = h.Hash
		if h.Seq < v.claimedMax[h.Partition] {
			return broken("checkpoint %d puts partition %d back to record %d", c.Seq, h.Partition, h.Seq)
		}
		v.claimedMax[h.Partition] = h.Seq
	}
	v.last = &c
	return nil
}

func (v *Verifier) part(p int) *Head {
	if v.parts == nil {
		v.parts = map[int]*Head{}
	}
	h := v.parts[p]
	if h == nil {
		h = &Head{Partition: p, Hash: Genesis(p, v.legacyHash())}
		v.parts[p] = h
	}
	return h
}

func (v *Verifier) legacyHash() []byte {
	if v.legacy.Hash == nil {
		return Zero()
	}
	return v.legacy.Hash
}

// Record checks the next record of its partition.
func (v *Verifier) Record(r identity.AuditRecord) error {
	if !v.legacyEnd {
		if err := v.EndLegacy(Head{Hash: Zero()}); err != nil {
			return err
		}
	}
	if r.Partition < 0 || r.Partition >= MaxPartitions {
		return broken("record %d names partition %d", r.Seq, r.Partition)
	}
	h := v.part(r.Partition)
	want := h.Seq + 1
	switch {
	case r.Seq != want:
		return broken("partition %d: record %d expected, found %d (a record is missing or moved)", r.Partition, want, r.Seq)
	case subtle.ConstantTimeCompare(r.Prev, h.Hash) != 1:
		return broken("partition %d: record %d does not follow record %d", r.Partition, r.Seq, h.Seq)
	case subtle.ConstantTimeCompare(r.Hash, Hash(r.Partition, r.Prev, r.Seq, r.Event)) != 1:
		return broken("partition %d: record %d was altered", r.Partition, r.Seq)
	}
	if c, ok := v.claims[r.Partition][r.Seq]; ok && subtle.ConstantTimeCompare(c, r.Hash) != 1 {
		return broken("partition %d: record %d is not the one a checkpoint sealed (the chain was recomputed)", r.Partition, r.Seq)
	}
	h.Seq, h.Hash = r.Seq, r.Hash
	v.records++
	return nil
}

// Finish compares every partition's chain with its head row and with the
// checkpoints, and returns a digest of the verified trail: the legacy
// head, every partition head and the last checkpoint. An operator who keeps
// it elsewhere can tell later that nothing was rolled back since.
func (v *Verifier) Finish(heads []Head) ([]byte, error) {
	if !v.legacyEnd {
		if err := v.EndLegacy(Head{Hash: Zero()}); err != nil {
			return nil, err
		}
	}
	rows := map[int]Head{}
	for _, h := range heads {
		rows[h.Partition] = h
		v.part(h.Partition)
	}
	for p := range v.claims {
		v.part(p)
	}
	ps := make([]int, 0, len(v.parts))
	for p := range v.parts {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	d := sha256.New()
	d.Write([]byte("puce-audit-digest-v1"))
	d.Write(appendHead(nil, v.legacy))
	for _, p := range ps {
		end := *v.parts[p]
		row, ok := rows[p]
		switch {
		case !ok:
			return nil, broken("partition %d has records but no head", p)
		case row.Seq != end.Seq || !bytes.Equal(row.Hash, end.Hash):
			return nil, broken("partition %d ends at record %d but its head says %d (records deleted)", p, end.Seq, row.Seq)
		case v.claimedMax[p] > end.Seq:
			return nil, broken("partition %d ends at record %d but checkpoint %d sealed record %d (records deleted, head rolled back)",
				p, end.Seq, v.last.Seq, v.claimedMax[p])
		}
		if c, ok := v.claims[p][0]; ok && !bytes.Equal(c, Genesis(p, v.legacyHash())) {
			return nil, broken("partition %d: a checkpoint sealed another start", p)
		}
		d.Write(appendHead(nil, end))
	}
	if v.last != nil {
		d.Write(binary.BigEndian.AppendUint64(nil, uint64(v.last.Seq)))
		d.Write(v.last.MAC)
	}
	return d.Sum(nil), nil
}

// Records is the number of records checked so far.
func (v *Verifier) Records() int64 { return v.records }

// Trail is a whole audit trail as a store keeps it: what a store that holds
// it in memory verifies with Verify, and what tests tamper with.
type Trail struct {
	// Legacy is the single chain of older puce versions, by sequence number,
	// and LegacyHead its head row.
	Legacy     []identity.AuditRecord
	LegacyHead Head
	// Records are the partitioned records, in any order.
	Records []identity.AuditRecord
	// Heads are the partitions' head rows.
	Heads       []Head
	Checkpoints []Checkpoint
}

// Verify checks t with a Verifier under key and returns its digest.
func Verify(t *Trail, key []byte) ([]byte, error) {
	v := Verifier{Key: key}
	for _, r := range t.Legacy {
		if err := v.Legacy(r); err != nil {
			return nil, err
		}
	}
	lh := t.LegacyHead
	if lh.Hash == nil {
		lh.Hash = Zero()
	}
	if err := v.EndLegacy(lh); err != nil {
		return nil, err
	}
	cps := slices.Clone(t.Checkpoints)
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return cmpInt(a.Seq, b.Seq) })
	for _, c := range cps {
		if err := v.Checkpoint(c); err != nil {
			return nil, err
		}
	}
	recs := slices.Clone(t.Records)
	slices.SortStableFunc(recs, func(a, b identity.AuditRecord) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return cmpInt(a.Seq, b.Seq)
	})
	for _, r := range recs {
		if err := v.Record(r); err != nil {
			return nil, err
		}
	}
	return v.Finish(t.Heads)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
