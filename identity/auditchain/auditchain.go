// Package auditchain is the tamper evidence of puce's audit trail, for those
// who write a store: the record hashes, the partitioned chains, the keyed
// checkpoints that bind them, and the Verifier a store streams its trail
// through. Applications never call it; they call a store's VerifyAudit.
//
// # Design
//
// The trail is split into N partitions (Partition: a subject's events all
// go to the partition its name hashes to). Each partition is a hash chain of
// its own: record k of partition p carries the hash of record k-1 of p, and
// its own hash covers that, p, k and every field of the event (Hash). A
// login appends to one partition only, so logins of different partitions
// never wait for each other, whichever server instance runs them; with the
// single chain puce had before, every login of every instance waited for the
// previous one's append.
//
// A plain hash chain proves nothing against whoever can write the database:
// they can edit a record and recompute every hash after it. So now and then
// (a store's checkpoint interval) a Checkpoint records every partition's
// head — its last sequence number and hash — and the head of the legacy
// single chain, chained to the previous checkpoint and sealed with
// HMAC-SHA256 under a key the database does not hold (the application
// passes it to the store, and to VerifyAudit). HMAC rather than a signature:
// the writer and the verifier are the same operator, the key is one
// secret to keep (beside the Sealer's), and a MAC costs nothing at the rate
// checkpoints are written. An auditor who must verify without being able to
// write checkpoints needs a signature instead; that is not built.
//
// # Sealed records
//
// A checkpoint vouches for what the chains held when it was written, not
// for who wrote it: before sealed records, whoever could write the
// database could append a record (a login that never happened, an unlock
// by an administrator), and the store's next checkpoint covered it as its
// own. So a store with a key also seals every record it appends
// (RecordKey): a random nonce, and an HMAC-SHA256 under the same key over
// a tag no checkpoint's MAC starts with, the partition, the nonce and every
// field of the event. The record's hash covers the nonce and the seal
// (RecordHash), so the chain binds them like any field.
//
// The seal does not cover the record's place in its chain (the previous
// hash, the sequence number): on PostgreSQL those are known only inside
// the statement that appends, and the key must not reach the database. So
// a genuine record could be copied to the end of its partition; the
// Verifier finds two records of one partition with the same nonce, keeping
// 24 bytes per sealed record of the partition it is reading. A copy to
// another partition fails its seal.
//
// A checkpoint written by a store that seals records says so (its MAC's
// input starts with a second tag; Checkpoint.Seal), and from the first
// such checkpoint on, the Verifier requires every newer record to be
// sealed. A trail written by an older puce is upgraded in place: its
// unsealed records stay verifiable, and when v1 checkpoints precede the
// first sealing one, unsealed records are accepted for
// SealUpgradeWindow after it — the rolling deploy in which instances of
// the older puce still append — and required after the first checkpoint
// dated at or past the window's end, whichever version: a v1 checkpoint
// then tells an older instance still running (or a deploy rolled back),
// whose unsealed records are reported. Instances of the older puce must
// therefore all be replaced within that day. Record times are not
// authenticated, so the Verifier cannot tell when within a checkpoint
// interval a record came: the window really ends at that checkpoint.
//
// # Key rotation
//
// Keys end: a cryptoperiod runs out, or a key leaks. The key a store seals
// with is then replaced, and VerifyAudit is given the new key as current and
// the old ones as retired (identity.AuditKeys). The Verifier holds them in
// generations, oldest first, and for each checkpoint finds the key whose MAC
// verifies. Accepting any key ever used would let whoever obtains a retired
// key seal checkpoints anywhere in the trail for ever, so a checkpoint
// sealed with key g is accepted
//
//   - before the first checkpoint under any newer key: as with one key;
//   - after it, only if dated at most g's Overlap after that first newer
//     checkpoint (the rolling deploy, when instances with either key write),
//     and not before the checkpoint it follows, which is authenticated: a
//     checkpoint forged with g cannot follow a genuine one dated after the
//     overlap, nor be dated back into it.
//
// A checkpoint under none of the keys given is broken: the Verifier cannot
// tell a checkpoint under a destroyed key from a forged one. The rules
// compare times written by instances whose clocks differ, so a store dates
// each checkpoint no earlier than the one before it, which it reads under
// the checkpoint lock, unless that one is dated more than MaxCheckpointLead
// ahead of its clock (CheckpointTime); a clock running ahead therefore
// shortens the overlap the others have, and the Overlap must cover the
// deploy and the clock skew between instances. Whoever writes the database
// can date the last checkpoint ahead before a store writes the next, so
// the first checkpoint under a new key may be dated up to
// MaxCheckpointLead late, and a retired key's overlap end that much
// later; the Overlap of a leaked key should count it. Trails written before keys could be rotated verify as
// before: they hold checkpoints under one key, where the rules never apply.
//
// The rotation, for an operator:
//
//  0. Every instance runs a release with key rotation first: older ones do
//     not keep a checkpoint's time from going back before the last one's,
//     and their old-key checkpoints could then be dated before a new-key
//     one and reported as broken.
//  1. Generate a new key (32 random bytes), and keep the old one.
//  2. Deploy the instances with the new key in AuditConfig.Key. Until the
//     last instance runs it, old and new instances seal checkpoints in turn.
//  3. Verify with the new key as Current and the old one first in Retired,
//     its Overlap at least the deploy's length plus the clock skew. Later
//     rotations put each replaced key first in Retired.
//  4. Keep every retired key, offline, for as long as the checkpoints it
//     sealed must be verified: without it, VerifyAudit reports them as
//     broken. Destroying it gives up verifying that part of the trail;
//     archive the trail with the mark VerifyAudit returned first.
//
// A deploy rolled back to the old key after its overlap writes checkpoints
// VerifyAudit reports as broken: a retired key must not become current
// again, since its retirement is what bounds a holder of the leaked key.
// Roll forward instead, or give the rolled-back build a newly generated key
// (the two earlier ones retired). An operator who knows that such
// checkpoints are their own can still verify them by giving the old key an
// Overlap that covers them, which concedes the same span to anyone else
// holding that key.
//
// # Threat model
//
// The attacker can read and write every table of the database (a stolen
// database password, a rogue administrator), but does not hold the current
// audit key. Given the keys, VerifyAudit detects, in any partition and in
// the legacy chain:
//
//   - a record edited, deleted, inserted or moved (reordered), anywhere: the
//     chain breaks at it, unless the attacker recomputes the hashes after it;
//   - a chain recomputed after such a change ("re-chaining"), when a
//     checkpoint covers the changed record: the checkpoint's head for that
//     partition no longer matches, and a new checkpoint cannot be made
//     without the key;
//   - once a sealing checkpoint precedes it (in a trail upgraded from an
//     older puce, the first checkpoint dated SealUpgradeWindow after the
//     first sealing one), a record made up, edited, stripped of its seal,
//     or copied from elsewhere in its partition, even in the newest
//     records that no checkpoint covers yet, and even after a later
//     checkpoint covered it: its seal fails, is missing, or repeats
//     another record's (see Sealed records). A record that keeps its
//     seal is checked wherever it stands: edited, copied, or moved to
//     another partition with it, it is reported even where no seal is
//     required yet;
//   - the newest records deleted and the partition heads rolled back to
//     match ("truncation"), when a checkpoint covers a deleted record: the
//     checkpoint names a head the chain no longer reaches;
//   - a checkpoint edited, inserted, deleted from the middle, or reordered:
//     its MAC or the chain of MACs breaks;
//   - a checkpoint sealed with a retired key (see Key rotation) dated after
//     that key's overlap, or dated before the checkpoint it follows once a
//     newer key has sealed one: whoever holds a retired key, leaked from a
//     backup or an old server, cannot add checkpoints to the trail after
//     its overlap;
//   - the newest records deleted without rolling the heads back: the chain
//     ends before its head;
//   - given a mark an earlier VerifyAudit returned, kept outside the
//     database (AuditKeys.Mark), any change behind it: records or
//     checkpoints it covers deleted (the trail rolled back, heads and all,
//     to an earlier checkpoint), or rewritten and re-chained. The mark
//     holds one hash over the hashes at the places the trail had reached,
//     and each of them chains everything before it in its partition. This
//     needs no key;
//   - given AuditKeys.Fresh, the trail cut back to a checkpoint older than
//     Fresh, or every checkpoint deleted: a store with the key writes one
//     every CheckpointInterval while it runs (records or none), so the
//     newest checkpoint of a trail in use is never much older than that;
//   - what a store running with the key saw (below): the records it
//     appended since its last checkpoint deleted, reordered or replaced,
//     and the checkpoint it wrote last deleted or replaced, once it writes
//     its next checkpoint.
//
// # What a running store sees
//
// A checkpoint vouches for what the database holds when it is written:
// a trail cut back to an older checkpoint, or whose newest records were
// deleted and their chain recomputed, would be covered by the next
// checkpoint as if genuine. So a store handle remembers, in its own
// memory, the place and hash of each record it appends and the checkpoint
// it wrote last, and checks them under the checkpoint lock before it
// writes the next one (at most CheckpointEvery appends, or the few
// thousand it remembers, or one CheckpointInterval later); in between,
// each timed tick checks that the checkpoint it wrote last is still
// there, so that an idle store too sees a cut back past it while other
// instances keep the trail fresh. When something is gone or different it
// appends a record of its own, sealed, whose Action is ActionTrailChanged
// and whose Reason says what it found, then the checkpoint that covers
// it: the Verifier reports the trail as broken at that record from then
// on, and whoever writes the database can no longer delete it without
// breaking that checkpoint. The store also logs it, and its Checkpoint
// returns identity.ErrAuditBroken, also when that checkpoint fails (the
// next one records it). A store closed gracefully (sqlstore's Close, as
// a deploy stops it) writes a last checkpoint, checked the same way, so
// that it leaves no records behind it that it did not check. Memory is
// what an attacker with the database alone cannot reach; restarting every
// instance empties it, and a store
// whose checkpoints keep failing forgets its oldest unchecked records
// (and logs that it does). Records lost without an attacker are found
// the same way: a database restored from a backup, or a failover to a
// replica that had not received the last commits, while a store runs, is
// reported as records deleted or the trail cut back; it is true, and it
// stays in the trail. Stop the instances for such a restore.
//
// It does not detect, and cannot without state kept outside the database:
//
//   - records newer than the last checkpoint and the last kept mark
//     deleted or put in another order, by an attacker who also recomputes
//     the chain and the head rows of that partition, before the store that
//     appended them checkpoints again, or after it stopped without closing
//     (a crash, a kill): between checkpoints the chain is only a hash chain,
//     and a record's seal does not cover its place in it. The window is
//     the checkpoint interval, in count (CheckpointEvery) and in time
//     (CheckpointInterval). Such records cannot be edited, made up or
//     copied (their seals tell, see Sealed records), once seals are
//     required there (above);
//   - records added where no seal is required yet: before the trail's
//     first sealing checkpoint, or, when the trail was upgraded, before
//     the first checkpoint dated SealUpgradeWindow or more after that one
//     (the window and up to one checkpoint interval). The trail only grew,
//     which a kept mark lets through, and the next checkpoint covers them
//     as if the store had written them. Times are the writer's, never
//     compared: a record's time says nothing the key vouches for;
//   - records sealed with a leaked retired key and appended before the
//     first checkpoint dated after its overlap (the overlap and up to one
//     checkpoint interval): genuine records of the rolling deploy come
//     there too, and that checkpoint covers both;
//   - without a kept mark, Fresh or a store that wrote them still
//     running, the newest checkpoints deleted: every record after the
//     last checkpoint kept is then in the window above, so deleting them
//     all leaves the whole trail open to rewriting, key or no key (with
//     every checkpoint gone, nothing requires a seal any more). With
//     Fresh, only the checkpoints of the last Fresh (plus up to
//     MaxCheckpointLead, by which whoever writes the database can have a
//     store date one ahead: CheckpointTime) can go unseen so, and
//     only while no store that wrote or followed them runs. An operator
//     who keeps each mark VerifyAudit returns, in a log shipped off the
//     machine, and gives the last one to the next verification detects it
//     whenever it happened;
//   - a whole trail copied from another database whose checkpoints the
//     same key sealed (a checkpoint names no database): give each
//     database a key of its own; a kept mark tells the copy too;
//   - a forged checkpoint, by anyone holding the current key;
//   - checkpoints forged with a retired key, dated within its overlap and
//     after every checkpoint they follow. A genuine checkpoint dated past the
//     overlap cannot precede them, so once the overlap is over such
//     forgeries need every later checkpoint deleted: the trail is rolled
//     back to around the rotation, and its records since rewritten and
//     sealed. This is the class of the newest checkpoints deleted, above,
//     and what tells it is the same: a mark kept outside the database from
//     a verification after the overlap. A retired key must therefore be kept as well
//     as the current one, and a leaked key replaced at once, with a short
//     Overlap;
//   - with no key (the zero identity.AuditKeys): anything a re-chaining
//     hides. Then only the chains and the heads are checked.
//
// Records written before partitions existed (the "legacy" single chain of
// schema version 1 to 4) keep their hashes (HashV1) and are verified as
// before; every partition's first record chains to the legacy chain's head
// (Genesis), and every checkpoint binds that head too, so the legacy trail
// is covered by the first checkpoint written after the upgrade.
package auditchain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/puce-id/puce/identity"
)

// DefaultPartitions is the number of partitions a store uses unless told
// otherwise: enough that a few server instances rarely wait for each other,
// few enough that a checkpoint stays small.
const DefaultPartitions = 16

// MaxPartitions bounds the partition count a store accepts.
const MaxPartitions = 1024

// LegacyPartition is the Partition of records of the single chain that
// preceded partitions.
const LegacyPartition = -1

// Partition returns the partition of subject's events among n.
func Partition(subject identity.Subject, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(subject))
	return int(h.Sum32() % uint32(n))
}

// Zero is the hash before the first record of the legacy chain: 32 zero
// bytes.
func Zero() []byte { return make([]byte, sha256.Size) }

// Genesis is the Prev of partition p's first record: it binds the head of
// the legacy chain (Zero when there was none).
func Genesis(p int, legacyHead []byte) []byte {
	b := make([]byte, 0, 64)
	b = append(b, "puce-audit-v2-genesis"...)
	b = binary.BigEndian.AppendUint64(b, uint64(p))
	b = append(b, legacyHead...)
	sum := sha256.Sum256(b)
	return sum[:]
}

// tagV2 starts every partitioned record's hash input.
const tagV2 = "puce-audit-v2"

// Hash is the hash of record seq of partition p, whose previous record's
// hash is prev: SHA-256 over PrefixV2(p), prev, seq and EventBytes(e), in
// that order. The split lets a database compute it with the previous hash
// it holds (sqlstore does so on PostgreSQL, in the statement that appends).
func Hash(p int, prev []byte, seq int64, e identity.Event) []byte {
	return AppendHash(make([]byte, 0, sha256.Size), p, prev, seq, e)
}

// AppendHash appends Hash(p, prev, seq, e) to dst.
func AppendHash(dst []byte, p int, prev []byte, seq int64, e identity.Event) []byte {
	var stack [512]byte
	b := AppendPrefixV2(stack[:0], p)
	b = append(b, prev...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = AppendEventBytes(b, e)
	sum := sha256.Sum256(b)
	return append(dst, sum[:]...)
}

// AppendPrefixV2 appends what precedes the previous hash in a partitioned
// record's hash input: the tag and the partition.
func AppendPrefixV2(dst []byte, p int) []byte {
	dst = append(dst, tagV2...)
	return binary.BigEndian.AppendUint64(dst, uint64(p))
}

// AppendEventBytes appends the encoding of e that follows the sequence
// number in a record's hash input: its time in microseconds (the precision
// every store keeps) and each field with its 8-byte length before it, so
// that no two events encode alike.
func AppendEventBytes(b []byte, e identity.Event) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixMicro()))
	b = appendField(b, string(e.Subject))
	b = appendField(b, string(e.Kind))
	b = appendField(b, e.CredentialID)
	b = appendField(b, e.Action)
	b = appendField(b, string(e.Result))
	b = appendField(b, e.RemoteAddr)
	return appendField(b, e.Reason)
}

func appendField(b []byte, f string) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(len(f))), f...)
}

// HashV1 is the hash of record seq of the legacy single chain (schema
// versions 1 to 4), kept to verify trails written then.
func HashV1(prev []byte, seq int64, e identity.Event) []byte {
	const tag = "puce-audit-v1"
	var stack [512]byte
	b := append(stack[:0], tag...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(prev)))
	b = append(b, prev...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = AppendEventBytes(b, e)
	sum := sha256.Sum256(b)
	return sum[:]
}

// Head is the end of one chain: its last sequence number (0 when empty) and
// the hash of that record (its genesis when empty).
type Head struct {
	Partition int
	Seq       int64
	Hash      []byte
}

// Checkpoint binds the heads of every partition and of the legacy chain at
// one moment, chained to the checkpoint before it and sealed with a key the
// database does not hold.
type Checkpoint struct {
	Seq    int64
	Time   time.Time
	Legacy Head
	// Heads holds every partition's head, by partition.
	Heads []Head
	// Prev is the MAC of checkpoint Seq-1 (Zero for the first).
	Prev []byte
	MAC  []byte
}

// Seal sets c.MAC: HMAC-SHA256 under key over everything else in c. The
// MAC's input starts with the tag of version 2, which says that the store
// seals its records: from such a checkpoint on, VerifyAudit requires every
// record to carry a seal (see "Sealed records" in the package
// documentation).
func (c *Checkpoint) Seal(key []byte) { c.MAC = c.mac(key, checkpointSealing) }

// MaxCheckpointLead is how far ahead of a store's clock the last
// checkpoint may be dated for the store to date its next one no earlier
// (CheckpointTime). Five minutes, the clock skew RFC 4120 (Kerberos)
// recommends accepting: instances that keep their clocks synchronized
// are far within it.
const MaxCheckpointLead = 5 * time.Minute

// CheckpointTime is the date of a checkpoint a store writes at now (its
// clock) after one dated last (the zero time when there is none): now, or
// last when that is later by at most MaxCheckpointLead, so that a
// checkpoint under an older key, during a rotation, is not dated before
// the newer key's it follows (see Key rotation). ahead reports a last
// date further ahead than that, which is not followed: a clock far wrong,
// or whoever writes the database dating the last checkpoint ahead behind
// the store's back (and back again once the store followed it). Followed,
// that would let them date the store's genuine checkpoints as they
// please: the first under a new key years ahead, so that the old key's
// overlap (and what a leaked old key may seal) starts there.
func CheckpointTime(now, last time.Time) (t time.Time, ahead bool) {
	switch {
	case !last.After(now):
		return now, false
	case last.Sub(now) > MaxCheckpointLead:
		return now, true
	}
	return last, false
}

// Checkpoint versions, told apart by the tag their MAC's input starts with:
// a checkpoint needs no column to say which it is, and one cannot be
// passed off as the other without the key.
const (
	checkpointV1      = "puce-audit-checkpoint-v1"
	checkpointSealing = "puce-audit-checkpoint-v2"
)

func (c *Checkpoint) mac(key []byte, tag string) []byte {
	m := hmac.New(sha256.New, key)
	b := []byte(tag)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UnixMicro()))
	b = append(b, c.Prev...)
	b = appendHead(b, c.Legacy)
	b = binary.BigEndian.AppendUint64(b, uint64(len(c.Heads)))
	for _, h := range c.Heads {
		b = appendHead(b, h)
	}
	m.Write(b)
	return m.Sum(nil)
}

func appendHead(b []byte, h Head) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(h.Partition))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(len(h.Hash)))
	return append(b, h.Hash...)
}

// EncodeHeads encodes heads for a store's column: partition, sequence
// number and 32-byte hash each.
func EncodeHeads(heads []Head) []byte {
	b := make([]byte, 0, len(heads)*48)
	for _, h := range heads {
		b = binary.BigEndian.AppendUint64(b, uint64(h.Partition))
		b = binary.BigEndian.AppendUint64(b, uint64(h.Seq))
		b = append(b, h.Hash...)
	}
	return b
}

// DecodeHeads reverses EncodeHeads.
func DecodeHeads(b []byte) ([]Head, error) {
	if len(b)%48 != 0 {
		return nil, fmt.Errorf("%w: checkpoint heads of %d bytes", identity.ErrAuditBroken, len(b))
	}
	heads := make([]Head, 0, len(b)/48)
	for ; len(b) > 0; b = b[48:] {
		heads = append(heads, Head{Partition: int(int64(binary.BigEndian.Uint64(b))), Seq: int64(binary.BigEndian.Uint64(b[8:])),
			Hash: append([]byte(nil), b[16:48]...)})
	}
	return heads, nil
}
