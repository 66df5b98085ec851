package auditchain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/auditchain"
	"github.com/puce-id/puce/identity/identitytest"
)

func TestHashCoversEveryField(t *testing.T) {
	base := identity.Event{Time: identitytest.Epoch(), Subject: "alice", Kind: identity.KindTOTP, CredentialID: "c1",
		Action: "login", Result: identity.Success, RemoteAddr: "192.0.2.1", Reason: "ok"}
	g := auditchain.Genesis(0, auditchain.Zero())
	h := auditchain.Hash(0, g, 1, base)
	changes := []func(*identity.Event){
		func(e *identity.Event) { e.Time = e.Time.Add(1000) },
		func(e *identity.Event) { e.Subject = "alicf" },
		func(e *identity.Event) { e.Kind = "totq" },
		func(e *identity.Event) { e.CredentialID = "c2" },
		func(e *identity.Event) { e.Action = "logout" },
		func(e *identity.Event) { e.Result = identity.Failure },
		func(e *identity.Event) { e.RemoteAddr = "192.0.2.2" },
		func(e *identity.Event) { e.Reason = "ok." },
		// Moving bytes between fields changes the hash too.
		func(e *identity.Event) { e.Subject, e.Kind = "alicet", "otp" },
	}
	for i, change := range changes {
		e := base
		change(&e)
		if bytes.Equal(auditchain.Hash(0, g, 1, e), h) {
			t.Errorf("change %d does not change the hash", i)
		}
		if bytes.Equal(auditchain.HashV1(g, 1, e), auditchain.HashV1(g, 1, base)) {
			t.Errorf("change %d does not change the legacy hash", i)
		}
	}
	if bytes.Equal(auditchain.Hash(0, g, 2, base), h) {
		t.Error("sequence number not covered")
	}
	if bytes.Equal(auditchain.Hash(1, g, 1, base), h) {
		t.Error("partition not covered")
	}
	if bytes.Equal(auditchain.Genesis(0, auditchain.Zero()), auditchain.Genesis(1, auditchain.Zero())) ||
		bytes.Equal(auditchain.Genesis(0, auditchain.Zero()), auditchain.Genesis(0, bytes.Repeat([]byte{1}, 32))) {
		t.Error("genesis does not bind partition and legacy head")
	}
}

// TestHashFormat pins both byte formats (stored trails must keep verifying
// across releases, and PostgreSQL computes the partitioned one in SQL) with
// encodings written out the long way, for an event that fits the stack
// buffer and one that does not.
func TestHashFormat(t *testing.T) {
	longest := func(v2 bool, e identity.Event) []byte {
		h := sha256.New()
		var n [8]byte
		u := func(v uint64) { binary.BigEndian.PutUint64(n[:], v); h.Write(n[:]) }
		field := func(s string) { u(uint64(len(s))); h.Write([]byte(s)) }
		prev := bytes.Repeat([]byte{0xa5}, 32)
		if v2 {
			h.Write([]byte("puce-audit-v2"))
			u(3)
			h.Write(prev)
		} else {
			h.Write([]byte("puce-audit-v1"))
			field(string(prev))
		}
		u(7)
		u(uint64(e.Time.UnixMicro()))
		for _, s := range []string{string(e.Subject), string(e.Kind), e.CredentialID, e.Action, string(e.Result), e.RemoteAddr, e.Reason} {
			field(s)
		}
		return h.Sum(nil)
	}
	short := identity.Event{Time: identitytest.Epoch(), Subject: "alice", Kind: identity.KindTOTP, CredentialID: "c1",
		Action: "login", Result: identity.Failure, RemoteAddr: "192.0.2.1", Reason: "wrong code"}
	long := short
	long.CredentialID = strings.Repeat("x", 1400)
	long.Reason = strings.Repeat("é", 300)
	prev := bytes.Repeat([]byte{0xa5}, 32)
	for _, e := range []identity.Event{short, long, {}} {
		if got, want := auditchain.HashV1(prev, 7, e), longest(false, e); !bytes.Equal(got, want) {
			t.Errorf("v1, %d-byte credential ID: hash %x, want %x", len(e.CredentialID), got, want)
		}
		if got, want := auditchain.Hash(3, prev, 7, e), longest(true, e); !bytes.Equal(got, want) {
			t.Errorf("v2, %d-byte credential ID: hash %x, want %x", len(e.CredentialID), got, want)
		}
		if got, want := auditchain.AppendHash([]byte("kept"), 3, prev, 7, e), append([]byte("kept"), longest(true, e)...); !bytes.Equal(got, want) {
			t.Errorf("AppendHash = %x, want %x", got, want)
		}
	}
}

func TestHeadsRoundTrip(t *testing.T) {
	heads := []auditchain.Head{{Partition: 0, Seq: 3, Hash: bytes.Repeat([]byte{1}, 32)}, {Partition: 15, Seq: 1 << 40, Hash: bytes.Repeat([]byte{2}, 32)}}
	got, err := auditchain.DecodeHeads(auditchain.EncodeHeads(heads))
	if err != nil || len(got) != 2 || got[1].Seq != 1<<40 || got[1].Partition != 15 || !bytes.Equal(got[0].Hash, heads[0].Hash) {
		t.Fatalf("%+v, %v", got, err)
	}
	if _, err := auditchain.DecodeHeads(make([]byte, 47)); err == nil {
		t.Fatal("a truncated encoding decoded")
	}
}

// FuzzDecodeHeads feeds the checkpoint column's decoder what a database
// could hold: it must refuse or decode, never panic, and what it decodes
// must encode back to the same bytes. A refusal is identity.ErrAuditBroken:
// the column holds what no checkpoint wrote.
func FuzzDecodeHeads(f *testing.F) {
	f.Add(auditchain.EncodeHeads([]auditchain.Head{{Partition: 3, Seq: 9, Hash: bytes.Repeat([]byte{7}, 32)}}))
	f.Add([]byte{})
	f.Add(make([]byte, 47))
	f.Fuzz(func(t *testing.T, b []byte) {
		heads, err := auditchain.DecodeHeads(b)
		if err != nil {
			if !errors.Is(err, identity.ErrAuditBroken) {
				t.Fatalf("%x: %v is not ErrAuditBroken", b, err)
			}
			return
		}
		if got := auditchain.EncodeHeads(heads); !bytes.Equal(got, b) {
			t.Fatalf("round trip: %x became %x", b, got)
		}
	})
}
