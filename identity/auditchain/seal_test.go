package auditchain_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
)

// TestSealFormat pins a record's seal and the hash of a sealed record,
// written out the long way: sealed trails must keep verifying across
// releases, and PostgreSQL computes the hash from AppendPrefixV3 and
// AppendSealedBytes.
func TestSealFormat(t *testing.T) {
	e := identity.Event{Time: identitytest.Epoch(), Subject: "alice", Kind: identity.KindTOTP, CredentialID: "c1",
		Action: "login", Result: identity.Success, RemoteAddr: "192.0.2.1", Reason: strings.Repeat("é", 300)}
	u := func(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
	field := func(b []byte, s string) []byte { return append(u(b, uint64(len(s))), s...) }
	event := func(b []byte) []byte {
		b = u(b, uint64(e.Time.UnixMicro()))
		for _, s := range []string{string(e.Subject), string(e.Kind), e.CredentialID, e.Action, string(e.Result), e.RemoteAddr, e.Reason} {
			b = field(b, s)
		}
		return b
	}
	nonce, mac := auditchain.NewRecordKey(k1).Seal(5, e)
	if len(nonce) != auditchain.NonceSize {
		t.Fatalf("nonce of %d bytes", len(nonce))
	}
	m := hmac.New(sha256.New, k1)
	m.Write(event(field(u([]byte("puce-audit-record-v1"), 5), string(nonce))))
	if want := m.Sum(nil); !bytes.Equal(mac, want) {
		t.Fatalf("seal %x, want %x", mac, want)
	}
	if n2, _ := auditchain.NewRecordKey(k1).Seal(5, e); bytes.Equal(n2, nonce) {
		t.Fatal("two seals share a nonce")
	}
	prev := bytes.Repeat([]byte{0xa5}, 32)
	in := append(u([]byte("puce-audit-v3"), 5), prev...)
	in = field(field(event(u(in, 7)), string(nonce)), string(mac))
	want := sha256.Sum256(in)
	r := identity.AuditRecord{Partition: 5, Seq: 7, Prev: prev, Event: e, Nonce: nonce, MAC: mac}
	if got := auditchain.RecordHash(r); !bytes.Equal(got, want[:]) {
		t.Fatalf("sealed hash %x, want %x", got, want)
	}
	split := sha256.Sum256(slices.Concat(auditchain.AppendPrefixV3(nil, 5), prev, u(nil, 7), auditchain.AppendSealedBytes(nil, e, nonce, mac)))
	if split != want {
		t.Fatal("the split a database computes differs")
	}
	r.Nonce, r.MAC = nil, nil
	if !bytes.Equal(auditchain.RecordHash(r), auditchain.Hash(5, prev, 7, e)) {
		t.Fatal("an unsealed record's hash is not Hash")
	}
}

// trail builds a trail in partition 0 as stores write it: records sealed
// with a key or not, and checkpoints of either version.
type trail struct {
	tr  auditchain.Trail
	now time.Duration
}

func (b *trail) head() auditchain.Head {
	if len(b.tr.Heads) == 0 {
		b.tr.Heads = []auditchain.Head{{Partition: 0, Hash: auditchain.Genesis(0, auditchain.Zero())}}
	}
	return b.tr.Heads[0]
}

// record appends a record sealed with key (nil: unsealed).
func (b *trail) record(key []byte) {
	h := b.head()
	r := identity.AuditRecord{Partition: 0, Seq: h.Seq + 1, Prev: h.Hash,
		Event: identity.Event{Time: identitytest.Epoch().Add(b.now), Subject: "alice", Action: "login", Result: identity.Success, Reason: fmt.Sprint(h.Seq + 1)}}
	if key != nil {
		r.Nonce, r.MAC = auditchain.NewRecordKey(key).Seal(0, r.Event)
	}
	r.Hash = auditchain.RecordHash(r)
	b.tr.Records = append(b.tr.Records, r)
	b.tr.Heads[0] = auditchain.Head{Partition: 0, Seq: r.Seq, Hash: r.Hash}
}

// checkpoint seals a checkpoint at b.now with key, as a store that seals
// records (sealing) or as an older one.
func (b *trail) checkpoint(key []byte, sealing bool) {
	c := auditchain.Checkpoint{Seq: 1, Time: identitytest.Epoch().Add(b.now), Prev: auditchain.Zero(),
		Legacy: auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}, Heads: []auditchain.Head{b.head()}}
	if n := len(b.tr.Checkpoints); n > 0 {
		c.Seq, c.Prev = b.tr.Checkpoints[n-1].Seq+1, b.tr.Checkpoints[n-1].MAC
	}
	if sealing {
		c.Seal(key)
	} else {
		auditchain.SealV1(&c, key)
	}
	b.tr.Checkpoints = append(b.tr.Checkpoints, c)
}

// TestSealUpgrade: a trail written by an older puce (unsealed records, v1
// checkpoints) keeps its unsealed records, and a newer one's first
// checkpoint opens SealUpgradeWindow, in which instances of the older one
// still running may append unsealed records; a sealing checkpoint dated
// after it requires seals from there on. A trail that never had v1
// checkpoints requires them from its first.
func TestSealUpgrade(t *testing.T) {
	keys := identity.AuditKeys{Current: k1}
	verify := func(b *trail) error { _, err := auditchain.Verify(&b.tr, keys); return err }
	old := &trail{}
	old.record(nil)
	old.checkpoint(k1, false)
	old.record(nil)
	old.checkpoint(k1, true) // the first newer instance
	old.record(k1)
	old.record(nil) // an older instance, during the deploy
	old.now = auditchain.SealUpgradeWindow - time.Second
	old.checkpoint(k1, true)
	old.record(nil)
	if err := verify(old); err != nil {
		t.Fatalf("unsealed records within the upgrade window: %v", err)
	}
	old.now = auditchain.SealUpgradeWindow
	old.checkpoint(k1, true)
	old.record(k1)
	if err := verify(old); err != nil {
		t.Fatalf("sealed records after the window: %v", err)
	}
	old.record(nil)
	err := verify(old)
	if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "record 7 carries no seal, and checkpoint 4 requires one") {
		t.Fatalf("an unsealed record after the window: %v", err)
	}
	// Without keys nothing tells a seal: the chains verify.
	if _, err := auditchain.Verify(&old.tr, identity.AuditKeys{}); err != nil {
		t.Fatal(err)
	}

	fresh := &trail{}
	fresh.record(nil) // before any checkpoint: a store not yet given a key
	fresh.checkpoint(k1, true)
	fresh.record(k1)
	if err := verify(fresh); err != nil {
		t.Fatal(err)
	}
	fresh.record(nil)
	if err := verify(fresh); !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("an unsealed record after a fresh trail's first checkpoint: %v", err)
	}

	// A seal under another key, or a record that is not the sealed one.
	forged := &trail{}
	forged.checkpoint(k1, true)
	forged.record(k2)
	if err := verify(forged); err == nil || !strings.Contains(err.Error(), "not sealed by any audit key") {
		t.Fatalf("a record sealed with another key: %v", err)
	}
	short := &trail{}
	short.checkpoint(k1, true)
	short.record(k1)
	short.tr.Records[0].Nonce = short.tr.Records[0].Nonce[:8]
	short.tr.Records[0].Hash = auditchain.RecordHash(short.tr.Records[0])
	short.tr.Heads[0].Hash = short.tr.Records[0].Hash
	if err := verify(short); err == nil || !strings.Contains(err.Error(), "nonce of 8 bytes") {
		t.Fatalf("a short nonce: %v", err)
	}
}

// TestSealRetiredKey: records sealed with a retired key verify before the
// first checkpoint dated after its overlap, not after it, however they are
// dated themselves (a record's time is not authenticated by any checkpoint).
func TestSealRetiredKey(t *testing.T) {
	keys := identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, time.Hour)}}
	b := &trail{}
	b.checkpoint(k1, true)
	b.record(k1)
	b.now = time.Minute
	b.checkpoint(k2, true) // the rotation starts
	b.record(k1)           // an instance not yet given k2
	b.record(k2)
	b.now = 2 * time.Hour
	b.checkpoint(k2, true) // after k1's overlap
	b.record(k2)
	if _, err := auditchain.Verify(&b.tr, keys); err != nil {
		t.Fatal(err)
	}
	b.record(k1)
	_, err := auditchain.Verify(&b.tr, keys)
	if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "record 5 is sealed with retired audit key 0 but follows checkpoint 3") {
		t.Fatalf("a record sealed with a retired key after its overlap: %v", err)
	}
}

// BenchmarkRecordSeal is what sealing adds to every append: a nonce and
// an HMAC, beside the record's hash (the anchor) that every append computes.
func BenchmarkRecordSeal(b *testing.B) {
	e := identity.Event{Time: identitytest.Epoch(), Subject: "alice", Kind: identity.KindTOTP, CredentialID: strings.Repeat("c", 43),
		Action: "login", Result: identity.Success, RemoteAddr: "192.0.2.1"}
	prev := bytes.Repeat([]byte{1}, 32)
	b.Run("anchor=hash", func(b *testing.B) {
		for b.Loop() {
			auditchain.Hash(3, prev, 7, e)
		}
	})
	k := auditchain.NewRecordKey(k1)
	b.Run("seal+sealed-hash", func(b *testing.B) {
		for b.Loop() {
			nonce, mac := k.Seal(3, e)
			auditchain.AppendSealedHash(nil, 3, prev, 7, e, nonce, mac)
		}
	})
}
