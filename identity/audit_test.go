package identity_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
	"github.com/puce-id/puce/identity/identitytest"
)

func TestChainHashCoversEveryField(t *testing.T) {
	base := identity.Event{Time: identitytest.Epoch(), Subject: "alice", Kind: identity.KindTOTP, CredentialID: "c1",
		Action: "login", Result: identity.Success, RemoteAddr: "192.0.2.1", Reason: "ok"}
	h := identity.ChainHash(identity.GenesisHash(), 1, base)
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
		if bytes.Equal(identity.ChainHash(identity.GenesisHash(), 1, e), h) {
			t.Errorf("change %d does not change the hash", i)
		}
	}
	if bytes.Equal(identity.ChainHash(identity.GenesisHash(), 2, base), h) {
		t.Error("sequence number not covered")
	}
}

type failingAuditor struct{}

func (failingAuditor) Audit(context.Context, identity.Event) error { return errors.New("disk full") }

func TestRecordOutcome(t *testing.T) {
	ctx := context.Background()
	// A success that cannot be audited is refused: no unaccounted login.
	err := identity.RecordOutcome(ctx, failingAuditor{}, identity.Event{Subject: "alice"}, nil)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("unaudited success: %v", err)
	}
	// A failure keeps its own error, joined with the audit's.
	err = identity.RecordOutcome(ctx, failingAuditor{}, identity.Event{Subject: "alice"}, identity.ErrExpired)
	if !errors.Is(err, identity.ErrExpired) {
		t.Fatalf("failure: %v", err)
	}
	// Hostile client fields are made storable.
	var buf bytes.Buffer
	a := identity.SlogAuditor{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	if err := identity.RecordOutcome(ctx, a, identity.Event{Subject: "al\x00ice\xff", Action: "login"}, identity.ErrInvalidResponse); !errors.Is(err, identity.ErrInvalidResponse) {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, `"result":"failure"`) || strings.Contains(out, `\u0000`) {
		t.Fatalf("slog output %s", out)
	}
}

// TestChainHashFormat pins the chain's byte format (stored trails must keep
// verifying across releases) with an encoding written out the long way, for
// an event that fits ChainHash's stack buffer and one that does not.
func TestChainHashFormat(t *testing.T) {
	longest := func(e identity.Event) []byte {
		h := sha256.New()
		h.Write([]byte("puce-audit-v1"))
		var n [8]byte
		field := func(s string) {
			binary.BigEndian.PutUint64(n[:], uint64(len(s)))
			h.Write(n[:])
			h.Write([]byte(s))
		}
		prev := bytes.Repeat([]byte{0xa5}, 32)
		field(string(prev))
		binary.BigEndian.PutUint64(n[:], 7)
		h.Write(n[:])
		binary.BigEndian.PutUint64(n[:], uint64(e.Time.UnixMicro()))
		h.Write(n[:])
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
	for _, e := range []identity.Event{short, long, {}} {
		if got, want := identity.ChainHash(bytes.Repeat([]byte{0xa5}, 32), 7, e), longest(e); !bytes.Equal(got, want) {
			t.Errorf("event with %d-byte credential ID: hash %x, want %x", len(e.CredentialID), got, want)
		}
		prefix := []byte("kept")
		if got, want := identity.AppendChainHash(prefix, bytes.Repeat([]byte{0xa5}, 32), 7, e), append([]byte("kept"), longest(e)...); !bytes.Equal(got, want) {
			t.Errorf("AppendChainHash = %x, want %x", got, want)
		}
	}
}
