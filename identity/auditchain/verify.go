package auditchain

import (
	"bytes"
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"slices"
	"time"

	"github.com/puce-id/puce/identity"
)

// Verifier checks a whole trail streamed through it, in this order:
// Legacy for each record of the legacy chain by sequence number, EndLegacy
// with the legacy head row, Checkpoint for each checkpoint by sequence
// number, Record for each partitioned record by partition then sequence
// number (a record of a partition already left is reported), and Finish
// with the partitions' head rows. Every error wraps
// identity.ErrAuditBroken and names the first bad record.
//
// The zero Verifier checks the chains only (see the package's threat
// model); NewVerifier gives it the keys that authenticate checkpoints.
type Verifier struct {
	// gens are the keys, oldest first: generation len(gens)-1 is the
	// current key.
	gens []generation
	// newer[g] is the time of the first checkpoint under a generation newer
	// than g, once one has gone by; top is the newest generation seen (-1
	// before any checkpoint), lastGen the previous checkpoint's.
	newer   []time.Time
	top     int
	lastGen int

	legacy     Head
	legacyEnd  bool
	last       *Checkpoint
	claims     map[int]map[int64][]byte
	claimedMax map[int]int64
	parts      map[int]*Head
	records    int64
	// lastPart is the partition of the last record, once one was seen:
	// records come by partition, since the seals' copy check keeps the
	// nonces of one partition at a time.
	lastPart int
	seen     bool
	// since is the mark the caller kept from an earlier verification.
	since *since
	seals sealRules
	// fresh and now are AuditKeys.Fresh and the time it counts back from.
	fresh time.Duration
	now   time.Time
}

// generation is one key and how long its checkpoints are accepted after
// the first under a newer key.
type generation struct {
	key     []byte
	overlap time.Duration
	records *RecordKey
}

// NewVerifier returns a Verifier that authenticates checkpoints with keys:
// identity.ErrBadInput, wrapped, when keys fail their Check.
func NewVerifier(keys identity.AuditKeys) (*Verifier, error) {
	if err := keys.Check(); err != nil {
		return nil, err
	}
	v := &Verifier{top: -1, fresh: keys.Fresh, now: keys.Now}
	if v.now.IsZero() {
		v.now = time.Now()
	}
	if keys.Mark != nil {
		s, err := newSince(keys.Mark)
		if err != nil {
			return nil, err
		}
		v.since = s
	}
	if keys.Current == nil {
		return v, nil
	}
	for i := len(keys.Retired) - 1; i >= 0; i-- {
		v.gens = append(v.gens, generation{key: keys.Retired[i].Key, overlap: keys.Retired[i].Overlap, records: NewRecordKey(keys.Retired[i].Key)})
	}
	v.gens = append(v.gens, generation{key: keys.Current, records: NewRecordKey(keys.Current)})
	v.newer = make([]time.Time, len(v.gens))
	v.seals.cuts = make([]map[int]int64, len(v.gens))
	return v, nil
}

// keyName names generation g as the caller gave it.
func (v *Verifier) keyName(g int) string {
	if g == len(v.gens)-1 {
		return "the current audit key"
	}
	return fmt.Sprintf("retired audit key %d", len(v.gens)-2-g)
}

// generation returns the generation whose key verifies c's MAC, or -1,
// and whether c is a checkpoint of a store that seals its records. The
// previous checkpoint's key is tried first: most follow one under the same.
func (v *Verifier) generation(c *Checkpoint) (g int, sealing bool) {
	try := func(g int) (bool, bool) {
		if hmac.Equal(c.MAC, c.mac(v.gens[g].key, checkpointSealing)) {
			return true, true
		}
		return hmac.Equal(c.MAC, c.mac(v.gens[g].key, checkpointV1)), false
	}
	if v.top >= 0 {
		if ok, sealing := try(v.lastGen); ok {
			return v.lastGen, sealing
		}
	}
	for g := len(v.gens) - 1; g >= 0; g-- {
		if v.top < 0 || g != v.lastGen {
			if ok, sealing := try(g); ok {
				return g, sealing
			}
		}
	}
	return -1, false
}

// rotation applies the rules of key rotation to c, sealed under generation
// g (see the package's threat model): a checkpoint under a key older than
// one seen before it must fall within that key's overlap, and may not be
// dated before the checkpoint it follows, which is authenticated.
func (v *Verifier) rotation(c *Checkpoint, g int) error {
	if g < v.top {
		end := v.newer[g].Add(v.gens[g].overlap)
		switch {
		case c.Time.After(end):
			return broken("checkpoint %d is sealed with %s and dated %s, after that key's overlap ended at %s (forged with a leaked key, written by an instance never given the new key, or the keys are not newest first)",
				c.Seq, v.keyName(g), c.Time.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
		case v.last != nil && c.Time.Before(v.last.Time):
			return broken("checkpoint %d is sealed with %s and dated %s, before checkpoint %d (%s): an older key's checkpoint may not go back in time",
				c.Seq, v.keyName(g), c.Time.Format(time.RFC3339Nano), v.last.Seq, v.last.Time.Format(time.RFC3339Nano))
		}
	}
	if g > v.top {
		// The first checkpoint under a newer key starts the overlap of
		// every older key whose overlap has not started.
		for old := range g {
			if v.newer[old].IsZero() {
				v.newer[old] = c.Time
			}
		}
		v.top = g
	}
	v.lastGen = g
	return nil
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
	v.since.sawLegacy(r.Seq, r.Hash)
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
// checkpoints and, with keys, its MAC and the rules of key rotation. The
// heads it names are checked as the records go by.
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
	case c.Legacy.Seq != v.legacy.Seq || !bytes.Equal(c.Legacy.Hash, v.legacy.Hash):
		return broken("checkpoint %d names another legacy chain than the one kept", c.Seq)
	}
	if len(v.gens) > 0 {
		g, sealing := v.generation(&c)
		if g < 0 {
			return broken("checkpoint %d does not verify under any audit key (forged, altered, or sealed with a key not given)", c.Seq)
		}
		if err := v.rotation(&c, g); err != nil {
			return err
		}
		v.sealsAfter(&c, sealing)
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
	v.since.sawCheckpoint(&c)
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
	// Back to a partition already left: its nonces are gone, and a copied
	// record there would pass unseen (see sealRules.endPartition).
	if v.seen && r.Partition < v.lastPart {
		return broken("partition %d after partition %d: records must come by partition, then sequence number", r.Partition, v.lastPart)
	}
	v.lastPart, v.seen = r.Partition, true
	h := v.part(r.Partition)
	want := h.Seq + 1
	switch {
	case r.Seq != want:
		return broken("partition %d: record %d expected, found %d (a record is missing or moved)", r.Partition, want, r.Seq)
	case subtle.ConstantTimeCompare(r.Prev, h.Hash) != 1:
		return broken("partition %d: record %d does not follow record %d", r.Partition, r.Seq, h.Seq)
	case subtle.ConstantTimeCompare(r.Hash, RecordHash(r)) != 1:
		return broken("partition %d: record %d was altered", r.Partition, r.Seq)
	}
	if c, ok := v.claims[r.Partition][r.Seq]; ok && subtle.ConstantTimeCompare(c, r.Hash) != 1 {
		return broken("partition %d: record %d is not the one a checkpoint sealed (the chain was recomputed)", r.Partition, r.Seq)
	}
	if err := v.sealOf(&r); err != nil {
		return err
	}
	h.Seq, h.Hash = r.Seq, r.Hash
	v.since.sawRecord(r.Partition, r.Seq, r.Hash)
	v.records++
	return nil
}

// Finish compares every partition's chain with its head row and with the
// checkpoints, checks the kept mark when the Verifier has one, and returns
// the mark of the verified trail (see mark): an operator who keeps it
// elsewhere and gives it to a later verification learns whether the trail
// was rolled back or rewritten behind it since.
func (v *Verifier) Finish(heads []Head) ([]byte, error) {
	if !v.legacyEnd {
		if err := v.EndLegacy(Head{Hash: Zero()}); err != nil {
			return nil, err
		}
	}
	if err := v.seals.endPartition(); err != nil {
		return nil, err
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
	m := mark{legacy: v.legacy.Seq}
	var hashes [][]byte
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
		if end.Seq > 0 {
			m.parts = append(m.parts, markPart{p: p, seq: end.Seq})
			hashes = append(hashes, end.Hash)
		}
	}
	if err := v.since.check(); err != nil {
		return nil, err
	}
	if err := v.checkFresh(); err != nil {
		return nil, err
	}
	var mac []byte
	if v.last != nil {
		m.checkpoint, mac = v.last.Seq, v.last.MAC
	}
	m.sum = markSum(v.legacyHash(), hashes, mac)
	return m.encode(), nil
}

// checkFresh reports a trail whose newest checkpoint is older than the
// Fresh the caller gave: while a store with the key runs, it writes one
// every CheckpointInterval, so an older newest checkpoint is a trail cut
// back to it, or one no store has written since.
func (v *Verifier) checkFresh() error {
	if v.fresh <= 0 {
		return nil
	}
	if v.last == nil {
		return broken("no checkpoint, and one dated within %s of %s is required (every checkpoint deleted, or no store with the audit key has run)",
			v.fresh, v.now.UTC().Format(time.RFC3339))
	}
	// Dated further ahead than any store follows (CheckpointTime): a
	// clock far wrong wrote it, and its age says nothing. Let through, a
	// trail cut back to it would pass for as long as it stays ahead.
	if lead := v.last.Time.Sub(v.now); lead > MaxCheckpointLead {
		return broken("the newest checkpoint, %d, is dated %s, %s ahead of %s, more than the %s a clock may be ahead: its freshness cannot be judged (a clock is wrong)",
			v.last.Seq, v.last.Time.UTC().Format(time.RFC3339), lead.Round(time.Second), v.now.UTC().Format(time.RFC3339), MaxCheckpointLead)
	}
	if age := v.now.Sub(v.last.Time); age > v.fresh {
		return broken("the newest checkpoint, %d, is dated %s, %s before %s, and one within %s is required (the trail was cut back to it, or no store with the audit key has run since)",
			v.last.Seq, v.last.Time.UTC().Format(time.RFC3339), age.Round(time.Second), v.now.UTC().Format(time.RFC3339), v.fresh)
	}
	return nil
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

// Verify checks t with a Verifier under keys and returns its mark.
func Verify(t *Trail, keys identity.AuditKeys) ([]byte, error) {
	v, err := NewVerifier(keys)
	if err != nil {
		return nil, err
	}
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
