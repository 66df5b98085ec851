package auditchain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/puce-id/puce/identity"
)

// A mark is what VerifyAudit returns: where the trail it verified ended —
// the legacy chain's last record, each partition's, the last checkpoint —
// and one SHA-256 over the hashes (and the checkpoint's MAC) at those
// places. Kept outside the database and given back to a later VerifyAudit
// (AuditKeys.Mark), it must still be found: every place it names reached,
// with the same hashes there. Each hash chains everything before it in its
// partition, so a trail rolled back behind the mark (records and
// checkpoints deleted, heads moved back) or rewritten before it
// (re-chained, with or without the key) no longer matches. This is what
// closes the window the keys leave open (see the package's threat model);
// it needs no key.
//
// Encoding: a version byte (1), the legacy chain's last sequence number
// (8 bytes), the number of partitions n (4 bytes), n pairs of partition (4
// bytes) and last sequence number (8 bytes) in increasing partition order,
// the last checkpoint's sequence number (8 bytes, 0 for none) and the
// 32-byte sum.
type mark struct {
	legacy     int64
	parts      []markPart
	checkpoint int64
	sum        []byte
}

type markPart struct {
	p   int
	seq int64
}

const markVersion = 1

// markSum is the sum of a mark over the hashes at its places, in its order.
func markSum(legacy []byte, parts [][]byte, checkpointMAC []byte) []byte {
	d := sha256.New()
	d.Write([]byte("puce-audit-mark-v1"))
	d.Write(legacy)
	for _, h := range parts {
		d.Write(h)
	}
	d.Write(checkpointMAC)
	return d.Sum(nil)
}

func (m *mark) encode() []byte {
	b := []byte{markVersion}
	b = binary.BigEndian.AppendUint64(b, uint64(m.legacy))
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.parts)))
	for _, p := range m.parts {
		b = binary.BigEndian.AppendUint32(b, uint32(p.p))
		b = binary.BigEndian.AppendUint64(b, uint64(p.seq))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(m.checkpoint))
	return append(b, m.sum...)
}

var errMark = errors.New("not a mark VerifyAudit returned")

// decodeMark reads a mark, refusing anything encode could not have made.
func decodeMark(b []byte) (*mark, error) {
	const fixed = 1 + 8 + 4 + 8 + sha256.Size
	if len(b) < fixed || b[0] != markVersion {
		return nil, errMark
	}
	n := binary.BigEndian.Uint32(b[9:13])
	if n > MaxPartitions || len(b) != fixed+int(n)*12 {
		return nil, errMark
	}
	m := &mark{legacy: int64(binary.BigEndian.Uint64(b[1:9]))}
	rest := b[13:]
	for i := range int(n) {
		p := markPart{p: int(binary.BigEndian.Uint32(rest)), seq: int64(binary.BigEndian.Uint64(rest[4:]))}
		if p.p >= MaxPartitions || p.seq < 1 || (i > 0 && p.p <= m.parts[i-1].p) {
			return nil, errMark
		}
		m.parts = append(m.parts, p)
		rest = rest[12:]
	}
	m.checkpoint = int64(binary.BigEndian.Uint64(rest))
	m.sum = slices.Clone(rest[8:])
	if m.legacy < 0 || m.checkpoint < 0 {
		return nil, errMark
	}
	return m, nil
}

// since is a kept mark and what the trail holds at its places so far.
type since struct {
	m          *mark
	index      map[int]int // partition → its index in m.parts
	legacy     []byte
	parts      [][]byte
	checkpoint []byte
}

func newSince(b []byte) (*since, error) {
	m, err := decodeMark(b)
	if err != nil {
		return nil, fmt.Errorf("%w: the audit mark: %w", identity.ErrBadInput, err)
	}
	s := &since{m: m, index: map[int]int{}, parts: make([][]byte, len(m.parts))}
	for i, p := range m.parts {
		s.index[p.p] = i
	}
	if m.legacy == 0 {
		s.legacy = Zero()
	}
	return s, nil
}

func (s *since) sawLegacy(seq int64, hash []byte) {
	if s != nil && seq == s.m.legacy {
		s.legacy = hash
	}
}

func (s *since) sawCheckpoint(c *Checkpoint) {
	if s != nil && c.Seq == s.m.checkpoint {
		s.checkpoint = c.MAC
	}
}

func (s *since) sawRecord(p int, seq int64, hash []byte) {
	if s == nil {
		return
	}
	if i, ok := s.index[p]; ok && s.m.parts[i].seq == seq {
		s.parts[i] = hash
	}
}

// check reports whether the trail still reached every place of the mark,
// with the same hashes.
func (s *since) check() error {
	if s == nil {
		return nil
	}
	if s.legacy == nil {
		return broken("the legacy chain no longer reaches record %d, which the kept mark covers (rolled back)", s.m.legacy)
	}
	for i, p := range s.m.parts {
		if s.parts[i] == nil {
			return broken("partition %d no longer reaches record %d, which the kept mark covers (rolled back)", p.p, p.seq)
		}
	}
	if s.m.checkpoint > 0 && s.checkpoint == nil {
		return broken("checkpoint %d, which the kept mark covers, is gone (rolled back)", s.m.checkpoint)
	}
	if subtle.ConstantTimeCompare(markSum(s.legacy, s.parts, s.checkpoint), s.m.sum) != 1 {
		return broken("the trail up to the kept mark is not the one it was (records or checkpoints it covers were rewritten)")
	}
	return nil
}
