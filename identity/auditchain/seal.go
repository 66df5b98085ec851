package auditchain

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"sync"
	"time"

	"github.com/puce-id/puce/identity"
)

// NonceSize is the length of a sealed record's nonce.
const NonceSize = 16

// SealUpgradeWindow is how long after the first checkpoint that requires
// sealed records a trail upgraded from unsealed records still accepts
// unsealed ones: the rolling deploy in which instances of an older puce,
// which seal nothing, append beside newer ones (see "Sealed records" in the
// package documentation). The records after the first checkpoint of
// either version dated at or past its end must be sealed.
const SealUpgradeWindow = 24 * time.Hour

// ActionTrailChanged is the Action of the record a store appends when it
// finds the trail changed behind it: a record it appended, or the
// checkpoint it last wrote, gone or different (see "What a running
// store sees" in the package documentation). Sealed, it makes VerifyAudit
// report the trail as broken from then on, whatever later checkpoints
// cover; its Reason says what the store found.
const ActionTrailChanged = "audit-trail-changed"

// RecordKey seals records with an audit key: each gets a random nonce and
// an HMAC-SHA256 over its partition, that nonce and every field of its
// event. It is safe for concurrent use.
type RecordKey struct {
	pool sync.Pool
}

// recordMAC is one HMAC of a RecordKey and the buffer its input is built
// in, pooled together: the input passes through an interface (hash.Hash),
// so a buffer on the stack would move to the heap at every seal, and a
// verification checks each record under every key given until one fits.
type recordMAC struct {
	h   hash.Hash
	buf []byte
}

// NewRecordKey returns the RecordKey of key (an identity.AuditConfig key).
func NewRecordKey(key []byte) *RecordKey {
	k := append([]byte(nil), key...)
	return &RecordKey{pool: sync.Pool{New: func() any { return &recordMAC{h: hmac.New(sha256.New, k), buf: make([]byte, 0, 512)} }}}
}

// tagRecord starts a record seal's MAC input: no checkpoint's starts alike,
// so one key serves both without a MAC of one passing for the other.
const tagRecord = "puce-audit-record-v1"

// Seal returns a fresh nonce for a record of e in partition p and the MAC
// that binds them. The event's time must be as the store keeps it (to the
// microsecond), since the MAC covers that.
func (k *RecordKey) Seal(p int, e identity.Event) (nonce, mac []byte) {
	nonce = make([]byte, NonceSize)
	rand.Read(nonce) // never fails (crypto/rand, Go 1.24)
	return nonce, k.mac(nil, p, nonce, e)
}

// mac appends to dst the MAC of a record of e in partition p with nonce.
func (k *RecordKey) mac(dst []byte, p int, nonce []byte, e identity.Event) []byte {
	m := k.pool.Get().(*recordMAC)
	defer k.pool.Put(m)
	b := append(m.buf[:0], tagRecord...)
	b = binary.BigEndian.AppendUint64(b, uint64(p))
	b = binary.BigEndian.AppendUint64(b, uint64(len(nonce)))
	b = append(b, nonce...)
	b = AppendEventBytes(b, e)
	m.buf = b
	m.h.Reset()
	m.h.Write(b)
	return m.h.Sum(dst)
}

// verifies reports whether r carries k's seal.
func (k *RecordKey) verifies(r *identity.AuditRecord, buf []byte) bool {
	return hmac.Equal(r.MAC, k.mac(buf[:0], r.Partition, r.Nonce, r.Event))
}

// tagV3 starts a sealed record's hash input.
const tagV3 = "puce-audit-v3"

// RecordHash is the hash of partitioned record r over its Prev: Hash for
// a record without a seal, and for a sealed one the same over PrefixV3 and
// a body that also holds the nonce and the MAC (AppendSealedBytes), so
// that the chain covers the seal too.
func RecordHash(r identity.AuditRecord) []byte {
	if len(r.MAC) == 0 {
		return Hash(r.Partition, r.Prev, r.Seq, r.Event)
	}
	return AppendSealedHash(make([]byte, 0, sha256.Size), r.Partition, r.Prev, r.Seq, r.Event, r.Nonce, r.MAC)
}

// AppendSealedHash appends the hash of a sealed record to dst.
func AppendSealedHash(dst []byte, p int, prev []byte, seq int64, e identity.Event, nonce, mac []byte) []byte {
	var stack [640]byte
	b := AppendPrefixV3(stack[:0], p)
	b = append(b, prev...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = AppendSealedBytes(b, e, nonce, mac)
	sum := sha256.Sum256(b)
	return append(dst, sum[:]...)
}

// AppendPrefixV3 is AppendPrefixV2 for a sealed record.
func AppendPrefixV3(dst []byte, p int) []byte {
	dst = append(dst, tagV3...)
	return binary.BigEndian.AppendUint64(dst, uint64(p))
}

// AppendSealedBytes is AppendEventBytes for a sealed record: the event,
// then its nonce and MAC, each with its length before it.
func AppendSealedBytes(b []byte, e identity.Event, nonce, mac []byte) []byte {
	b = AppendEventBytes(b, e)
	b = appendField(b, string(nonce))
	return appendField(b, string(mac))
}

// sealRules is what a Verifier with keys knows of sealed records: from
// which record of each partition they are required, which records a
// retired key may no longer seal, and the nonces of the partition being
// read, to find a record copied within it.
type sealRules struct {
	// upgraded: a checkpoint of a store that sealed no records went by
	// before any that does, so SealUpgradeWindow applies.
	upgraded bool
	// first is the time of the first checkpoint that requires seals.
	first time.Time
	// from holds, once seals are required, each partition's last record
	// that may go without one (checkpoint fromSeq's heads).
	from    map[int]int64
	fromSeq int64
	// cuts[g] holds each partition's last record key generation g may
	// seal: the heads of the first checkpoint dated after g's overlap
	// (cutSeq[g]). Nil until such a checkpoint goes by.
	cuts   []map[int]int64
	cutSeq []int64
	part   int
	nonces []nonceAt
	buf    []byte
}

type nonceAt struct {
	nonce [NonceSize]byte
	seq   int64
}

func headsOf(c *Checkpoint) map[int]int64 {
	m := make(map[int]int64, len(c.Heads))
	for _, h := range c.Heads {
		m[h.Partition] = h.Seq
	}
	return m
}

// sealsAfter applies authenticated checkpoint c, sealing or not, to the
// rules of sealed records.
func (v *Verifier) sealsAfter(c *Checkpoint, sealing bool) {
	r := &v.seals
	if r.cutSeq == nil {
		r.cutSeq = make([]int64, len(v.gens))
	}
	if r.from == nil {
		switch {
		case r.first.IsZero() && !sealing:
			r.upgraded = true
		case r.first.IsZero():
			r.first = c.Time
			if !r.upgraded {
				r.from, r.fromSeq = headsOf(c), c.Seq
			}
		case !c.Time.Before(r.first.Add(SealUpgradeWindow)):
			// Any checkpoint dated past the window closes it, a v1 one
			// too: an older instance that writes it is still running
			// (or the deploy was rolled back), and if only a sealing
			// checkpoint closed the window, a trail no newer instance
			// checkpoints would stop requiring seals for good, whoever
			// appended its records.
			r.from, r.fromSeq = headsOf(c), c.Seq
		}
	}
	// c verified under a key at least as new as every one before it, or
	// within an older one's overlap (rotation): the first dated after an
	// older key's overlap ends what that key may seal.
	for g := range v.top {
		if r.cuts[g] == nil && !v.newer[g].IsZero() && c.Time.After(v.newer[g].Add(v.gens[g].overlap)) {
			r.cuts[g], r.cutSeq[g] = headsOf(c), c.Seq
		}
	}
}

// sealOf checks the seal of record r, which chains where it stands.
func (v *Verifier) sealOf(r *identity.AuditRecord) error {
	if len(v.gens) == 0 {
		return nil
	}
	s := &v.seals
	if len(r.MAC) == 0 {
		if s.from != nil && r.Seq > s.from[r.Partition] {
			return broken("partition %d: record %d carries no seal, and checkpoint %d requires one (added by someone without the audit key, or appended by an instance of an older puce more than %s after the first checkpoint that required seals)",
				r.Partition, r.Seq, s.fromSeq, SealUpgradeWindow)
		}
		return nil
	}
	if len(r.Nonce) != NonceSize {
		return broken("partition %d: record %d has a seal nonce of %d bytes", r.Partition, r.Seq, len(r.Nonce))
	}
	if s.buf == nil {
		s.buf = make([]byte, 0, sha256.Size)
	}
	g := -1
	for i := len(v.gens) - 1; i >= 0 && g < 0; i-- {
		if v.gens[i].records.verifies(r, s.buf) {
			g = i
		}
	}
	if g < 0 {
		return broken("partition %d: record %d is not sealed by any audit key given (forged, altered, or sealed with a key not given)", r.Partition, r.Seq)
	}
	if cut := s.cuts[g]; cut != nil && r.Seq > cut[r.Partition] {
		return broken("partition %d: record %d is sealed with %s but follows checkpoint %d, dated after that key's overlap (forged with a leaked key, or appended by an instance never given the new key)",
			r.Partition, r.Seq, v.keyName(g), s.cutSeq[g])
	}
	if r.Event.Action == ActionTrailChanged {
		// Only a store holding the key can seal one: it saw the trail
		// changed behind it, which no later checkpoint undoes.
		return broken("partition %d: record %d: a store found the trail changed behind it at %s: %s",
			r.Partition, r.Seq, r.Event.Time.UTC().Format(time.RFC3339), r.Event.Reason)
	}
	if len(s.nonces) > 0 && s.part != r.Partition {
		if err := s.endPartition(); err != nil {
			return err
		}
	}
	s.part = r.Partition
	n := nonceAt{seq: r.Seq}
	copy(n.nonce[:], r.Nonce)
	s.nonces = append(s.nonces, n)
	return nil
}

// endPartition finds two sealed records of the partition just read with
// one nonce: a genuine record copied, which its seal alone cannot tell. A
// copy can only be placed in the partition it was sealed for (the seal
// covers it), so one partition's nonces are all that is kept at a time.
func (s *sealRules) endPartition() error {
	defer func() { s.nonces = s.nonces[:0] }()
	slices.SortFunc(s.nonces, func(a, b nonceAt) int { return bytes.Compare(a.nonce[:], b.nonce[:]) })
	for i := 1; i < len(s.nonces); i++ {
		if a, b := s.nonces[i-1], s.nonces[i]; a.nonce == b.nonce {
			return broken("partition %d: records %d and %d carry the same seal (a record copied)", s.part, min(a.seq, b.seq), max(a.seq, b.seq))
		}
	}
	return nil
}
