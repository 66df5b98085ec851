package auditchain

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/identity"
)

// FuzzDecodeMark feeds the mark reader what an operator could paste back:
// it refuses or reads, never panics, and what it reads encodes back to
// the same bytes. What the caller sees of a refusal is identity.ErrBadInput:
// the operator pasted something else.
func FuzzDecodeMark(f *testing.F) {
	f.Add((&mark{legacy: 3, parts: []markPart{{0, 9}, {5, 1}}, checkpoint: 2, sum: make([]byte, 32)}).encode())
	f.Add((&mark{sum: make([]byte, 32)}).encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMark(b)
		if _, serr := newSince(b); (serr == nil) != (err == nil) || (serr != nil && !errors.Is(serr, identity.ErrBadInput)) {
			t.Fatalf("%x: decodeMark %v, newSince %v", b, err, serr)
		}
		if err != nil {
			return
		}
		if got := m.encode(); !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x became %x", b, got)
		}
	})
}

func TestDecodeMarkRefuses(t *testing.T) {
	good := (&mark{legacy: 3, parts: []markPart{{0, 9}, {5, 1}}, checkpoint: 2, sum: make([]byte, 32)}).encode()
	if _, err := decodeMark(good); err != nil {
		t.Fatal(err)
	}
	unsorted := (&mark{parts: []markPart{{5, 1}, {0, 9}}, sum: make([]byte, 32)}).encode()
	zeroSeq := (&mark{parts: []markPart{{0, 0}}, sum: make([]byte, 32)}).encode()
	tooHigh := (&mark{parts: []markPart{{MaxPartitions, 1}}, sum: make([]byte, 32)}).encode()
	for name, b := range map[string][]byte{"empty": nil, "short": good[:len(good)-1], "long": append(bytes.Clone(good), 0),
		"version 2": append([]byte{2}, good[1:]...), "unsorted": unsorted, "record 0": zeroSeq, "partition out of range": tooHigh} {
		if _, err := decodeMark(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// TestMarkTellsRewrite: with no key and no checkpoint, a record rewritten
// and its chain recomputed verifies, but not against the mark kept before;
// a trail that only grew verifies against it.
func TestMarkTellsRewrite(t *testing.T) {
	trail := func(n int, reason func(i int) string) *Trail {
		tr := &Trail{}
		prev := Genesis(2, Zero())
		for i := 1; i <= n; i++ {
			e := identity.Event{Time: time.Unix(int64(i), 0).UTC(), Subject: "alice", Action: "login", Result: identity.Success, Reason: reason(i)}
			r := identity.AuditRecord{Partition: 2, Seq: int64(i), Prev: prev, Event: e, Hash: Hash(2, prev, int64(i), e)}
			tr.Records = append(tr.Records, r)
			prev = r.Hash
		}
		tr.Heads = []Head{{Partition: 2, Seq: int64(n), Hash: prev}}
		return tr
	}
	honest := func(i int) string { return fmt.Sprint(i) }
	kept, err := Verify(trail(3, honest), identity.AuditKeys{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(trail(5, honest), identity.AuditKeys{Mark: kept}); err != nil {
		t.Fatalf("a trail that grew: %v", err)
	}
	rewritten := trail(5, func(i int) string {
		if i == 2 {
			return "nothing happened"
		}
		return fmt.Sprint(i)
	})
	if _, err := Verify(rewritten, identity.AuditKeys{}); err != nil {
		t.Fatalf("re-chained, no key, no mark: %v (the chains alone cannot tell)", err)
	}
	_, err = Verify(rewritten, identity.AuditKeys{Mark: kept})
	if !errors.Is(err, identity.ErrAuditBroken) || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("re-chained, against the kept mark: %v", err)
	}
	if _, err := Verify(trail(2, honest), identity.AuditKeys{Mark: kept}); !errors.Is(err, identity.ErrAuditBroken) {
		t.Fatalf("cut back behind the mark: %v", err)
	}
}
