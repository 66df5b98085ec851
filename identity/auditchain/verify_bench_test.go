//go:build unix

package auditchain_test

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
)

// benchTrail is a trail of n records over 16 partitions, a checkpoint
// every 100 records, its records sealed with seal (nil: unsealed) and its
// checkpoints with key.
func benchTrail(n int, seal, key []byte) *auditchain.Trail {
	const parts = 16
	tr := &auditchain.Trail{}
	heads := make([]auditchain.Head, parts)
	for p := range heads {
		heads[p] = auditchain.Head{Partition: p, Hash: auditchain.Genesis(p, auditchain.Zero())}
	}
	var rk *auditchain.RecordKey
	if seal != nil {
		rk = auditchain.NewRecordKey(seal)
	}
	prev := auditchain.Zero()
	for i := range n {
		p := i % parts
		h := &heads[p]
		r := identity.AuditRecord{Partition: p, Seq: h.Seq + 1, Prev: h.Hash, Event: identity.Event{Time: identitytest.Epoch().Add(time.Duration(i) * time.Second),
			Subject: identity.Subject(fmt.Sprint("user", i)), Kind: identity.KindTOTP, CredentialID: "c1", Action: "login", Result: identity.Success, RemoteAddr: "192.0.2.1"}}
		if rk != nil {
			r.Nonce, r.MAC = rk.Seal(p, r.Event)
		}
		r.Hash = auditchain.RecordHash(r)
		tr.Records = append(tr.Records, r)
		h.Seq, h.Hash = r.Seq, r.Hash
		if (i+1)%100 == 0 {
			c := auditchain.Checkpoint{Seq: int64(len(tr.Checkpoints) + 1), Time: r.Event.Time, Prev: prev,
				Legacy: auditchain.Head{Partition: auditchain.LegacyPartition, Hash: auditchain.Zero()}, Heads: append([]auditchain.Head(nil), heads...)}
			if seal != nil {
				c.Seal(key)
			} else {
				auditchain.SealV1(&c, key)
			}
			tr.Checkpoints, prev = append(tr.Checkpoints, c), c.MAC
		}
	}
	tr.Heads = heads
	return tr
}

// BenchmarkVerifySealed is what sealed records add to a verification of
// the whole trail, per record, streamed through a Verifier as sqlstore
// does: the anchor is the same trail unsealed (v1
// checkpoints, as before sealed records), verified with the key; then the
// trail sealed with the current key; then sealed with the older of two
// retired keys, the worst case (every seal tried newest key first).
func BenchmarkVerifySealed(b *testing.B) {
	const n = 100_000
	three := identity.AuditKeys{Current: k3, Retired: []identity.RetiredAuditKey{retired(k2, time.Hour), retired(k1, time.Hour)}}
	for _, c := range []struct {
		name string
		tr   *auditchain.Trail
		keys identity.AuditKeys
	}{
		{"anchor=unsealed", benchTrail(n, nil, k1), identity.AuditKeys{Current: k1}},
		{"sealed", benchTrail(n, k1, k1), identity.AuditKeys{Current: k1}},
		{"sealed-oldest-of-3-keys", benchTrail(n, k1, k1), three},
	} {
		// As sqlstore streams it: by partition, then sequence number.
		slices.SortStableFunc(c.tr.Records, func(x, y identity.AuditRecord) int { return x.Partition - y.Partition })
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				v, err := auditchain.NewVerifier(c.keys)
				if err != nil {
					b.Fatal(err)
				}
				for _, cp := range c.tr.Checkpoints {
					if err := v.Checkpoint(cp); err != nil {
						b.Fatal(err)
					}
				}
				for _, r := range c.tr.Records {
					if err := v.Record(r); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := v.Finish(c.tr.Heads); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/n, "cpu-ns/record")
		})
	}
}

// cpuTime is the CPU time the process has used (user and system, the
// garbage collector's included): on a machine shared with other work,
// what a verification costs shows there, not in its wall time.
func cpuTime() time.Duration {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
