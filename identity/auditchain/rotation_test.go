package auditchain_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
)

var (
	k1 = bytes.Repeat([]byte{1}, 32)
	k2 = bytes.Repeat([]byte{2}, 32)
	k3 = bytes.Repeat([]byte{3}, 32)
)

// sealed is one checkpoint of a test trail: the key that seals it and its
// time after identitytest.Epoch.
type sealed struct {
	key []byte
	at  time.Duration
}

// chain returns checkpoints sealed and dated as given, chained as a store
// writes them, over an empty trail.
func chain(steps ...sealed) *auditchain.Trail {
	tr := &auditchain.Trail{}
	prev := auditchain.Zero()
	for i, s := range steps {
		c := auditchain.Checkpoint{Seq: int64(i + 1), Time: identitytest.Epoch().Add(s.at), Prev: prev,
			Legacy: auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}}
		c.Seal(s.key)
		tr.Checkpoints = append(tr.Checkpoints, c)
		prev = c.MAC
	}
	return tr
}

func retired(key []byte, overlap time.Duration) identity.RetiredAuditKey {
	return identity.RetiredAuditKey{Key: key, Overlap: overlap}
}

func TestRotation(t *testing.T) {
	m := time.Minute
	rolled := []sealed{{k1, 0}, {k2, 1 * m}, {k1, 2 * m}, {k2, 3 * m}, {k1, 4 * m}, {k2, 5 * m}}
	for _, c := range []struct {
		name  string
		trail []sealed
		keys  identity.AuditKeys
		// broken is what the error must say; empty when the trail verifies.
		broken []string
	}{
		{name: "one key", trail: []sealed{{k1, 0}, {k1, m}},
			keys: identity.AuditKeys{Current: k1}},
		{name: "rotated", trail: []sealed{{k1, 0}, {k1, m}, {k2, 2 * m}, {k2, 3 * m}},
			keys: identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 0)}}},
		{name: "rotated, verified without the retired key", trail: []sealed{{k1, 0}, {k1, m}, {k2, 2 * m}},
			keys:   identity.AuditKeys{Current: k2},
			broken: []string{"checkpoint 1 ", "does not verify under any audit key"}},
		{name: "rotated, verified with the new key only as retired", trail: []sealed{{k1, 0}, {k2, m}},
			keys:   identity.AuditKeys{Current: k1, Retired: []identity.RetiredAuditKey{retired(k2, 0)}},
			broken: []string{"checkpoint 2 ", "retired audit key 0", "overlap ended", "newest first"}},
		{name: "not rotated yet, the new key given", trail: []sealed{{k1, 0}, {k1, m}},
			keys: identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 0)}}},
		{name: "first checkpoints under the new key only", trail: []sealed{{k2, 0}, {k2, m}},
			keys: identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 0)}}},
		{name: "rolling deploy within the overlap", trail: rolled,
			keys: identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 3*m)}}},
		{name: "rolling deploy longer than the overlap", trail: rolled,
			keys:   identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 3*m-time.Microsecond)}},
			broken: []string{"checkpoint 5 ", "retired audit key 0", "overlap ended"}},
		{name: "old key at the overlap's last instant", trail: []sealed{{k1, 0}, {k2, m}, {k1, 2 * m}},
			keys: identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, m)}}},
		{name: "old key after a zero overlap", trail: []sealed{{k1, 0}, {k2, m}, {k1, m + time.Microsecond}},
			keys:   identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 0)}},
			broken: []string{"checkpoint 3 ", "overlap ended"}},
		{name: "old key back in time within the overlap", trail: []sealed{{k1, 0}, {k2, m}, {k2, 3 * m}, {k1, 2 * m}},
			keys:   identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, time.Hour)}},
			broken: []string{"checkpoint 4 ", "before checkpoint 3", "back in time"}},
		// What a leaked retired key still allows: a checkpoint of its own
		// inside its overlap, after the trail's last one (the threat model's
		// rollback to around the rotation, which only a kept mark tells).
		{name: "leaked old key inside the overlap (the open window)", trail: []sealed{{k1, 0}, {k2, m}, {k1, m + 30*time.Second}},
			keys: identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 5*m)}}},
		{name: "leaked old key after the trail moved past the overlap", trail: []sealed{{k1, 0}, {k2, m}, {k2, time.Hour}, {k1, time.Hour}},
			keys:   identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 5*m)}},
			broken: []string{"checkpoint 4 ", "overlap ended"}},
		{name: "three keys, each within its overlap", trail: []sealed{{k1, 0}, {k2, m}, {k1, 2 * m}, {k3, 10 * m}, {k2, 12 * m}, {k3, 13 * m}},
			keys: identity.AuditKeys{Current: k3, Retired: []identity.RetiredAuditKey{retired(k2, 5*m), retired(k1, 5*m)}}},
		{name: "three keys, the oldest past its overlap", trail: []sealed{{k1, 0}, {k2, m}, {k3, 10 * m}, {k1, 11 * m}},
			keys:   identity.AuditKeys{Current: k3, Retired: []identity.RetiredAuditKey{retired(k2, 5*m), retired(k1, 5*m)}},
			broken: []string{"checkpoint 4 ", "retired audit key 1", "overlap ended"}},
		// A key never used for a checkpoint: the first under a newer one
		// starts its overlap all the same.
		{name: "a key skipped", trail: []sealed{{k1, 0}, {k3, m}, {k2, 2 * m}, {k1, 3 * m}},
			keys:   identity.AuditKeys{Current: k3, Retired: []identity.RetiredAuditKey{retired(k2, 5*m), retired(k1, m)}},
			broken: []string{"checkpoint 4 ", "retired audit key 1", "overlap ended"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := auditchain.Verify(chain(c.trail...), c.keys)
			if len(c.broken) == 0 {
				if err != nil || len(d) == 0 {
					t.Fatalf("verify: %x, %v", d, err)
				}
				return
			}
			if !errors.Is(err, identity.ErrAuditBroken) {
				t.Fatalf("verify: %v, want ErrAuditBroken", err)
			}
			for _, s := range c.broken {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// TestRotationDigest: the mark does not depend on the keys it was
// verified with, so an operator's kept mark survives a rotation.
func TestRotationDigest(t *testing.T) {
	tr := chain(sealed{k1, 0}, sealed{k2, time.Minute})
	d1, err := auditchain.Verify(tr, identity.AuditKeys{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := auditchain.Verify(tr, identity.AuditKeys{})
	if err != nil || !bytes.Equal(d1, d2) {
		t.Fatalf("mark %x with the keys, %x, %v without", d1, d2, err)
	}
}

func TestBadAuditKeys(t *testing.T) {
	short := bytes.Repeat([]byte{9}, 31)
	for i, keys := range []identity.AuditKeys{
		{Current: short},
		{Current: []byte{}},
		{Current: k2, Retired: []identity.RetiredAuditKey{retired(short, 0)}},
		{Current: k2, Retired: []identity.RetiredAuditKey{retired(nil, 0)}},
		{Current: k2, Retired: []identity.RetiredAuditKey{retired(k2, 0)}},
		{Current: k3, Retired: []identity.RetiredAuditKey{retired(k2, 0), retired(bytes.Clone(k2), 0)}},
		{Current: k2, Retired: []identity.RetiredAuditKey{retired(k1, -time.Nanosecond)}},
		{Retired: []identity.RetiredAuditKey{retired(k1, 0)}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if _, err := auditchain.NewVerifier(keys); !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("NewVerifier: %v, want ErrBadInput", err)
			}
			if _, err := auditchain.Verify(chain(sealed{k1, 0}), keys); !errors.Is(err, identity.ErrBadInput) {
				t.Fatalf("Verify: %v, want ErrBadInput", err)
			}
		})
	}
}

// TestCheckpointMACFormat pins the checkpoint MAC's input, written out the
// long way, in both versions: checkpoints sealed by earlier releases (v1),
// under keys now retired, must keep verifying, and a v1 checkpoint tells
// that its store did not seal records yet.
func TestCheckpointMACFormat(t *testing.T) {
	c := auditchain.Checkpoint{Seq: 7, Time: identitytest.Epoch(), Prev: bytes.Repeat([]byte{0xa5}, 32),
		Legacy: auditchain.Head{Partition: auditchain.LegacyPartition, Seq: 2, Hash: bytes.Repeat([]byte{0x11}, 32)},
		Heads:  []auditchain.Head{{Partition: 0, Seq: 3, Hash: bytes.Repeat([]byte{0x22}, 32)}, {Partition: 5, Seq: 9, Hash: bytes.Repeat([]byte{0x33}, 32)}}}
	want := func(tag string) []byte {
		m := hmac.New(sha256.New, k1)
		u := func(v uint64) { m.Write(binary.BigEndian.AppendUint64(nil, v)) }
		head := func(h auditchain.Head) {
			u(uint64(h.Partition))
			u(uint64(h.Seq))
			u(uint64(len(h.Hash)))
			m.Write(h.Hash)
		}
		m.Write([]byte(tag))
		u(7)
		u(uint64(identitytest.Epoch().UnixMicro()))
		m.Write(c.Prev)
		head(c.Legacy)
		u(2)
		head(c.Heads[0])
		head(c.Heads[1])
		return m.Sum(nil)
	}
	c.Seal(k1)
	if w := want("puce-audit-checkpoint-v2"); !bytes.Equal(c.MAC, w) {
		t.Fatalf("MAC %x, want %x", c.MAC, w)
	}
	auditchain.SealV1(&c, k1)
	if w := want("puce-audit-checkpoint-v1"); !bytes.Equal(c.MAC, w) {
		t.Fatalf("v1 MAC %x, want %x", c.MAC, w)
	}
	// Both verify under the key.
	tr := &auditchain.Trail{Checkpoints: []auditchain.Checkpoint{c}}
	c.Seq, c.Prev, c.Heads = 1, auditchain.Zero(), nil
	c.Legacy = auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}
	for _, seal := range []func(*auditchain.Checkpoint, []byte){auditchain.SealV1, (*auditchain.Checkpoint).Seal} {
		seal(&c, k1)
		tr.Checkpoints[0] = c
		if _, err := auditchain.Verify(tr, identity.AuditKeys{Current: k1}); err != nil {
			t.Fatal(err)
		}
	}
}
