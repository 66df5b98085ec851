package identity_test

import (
	"bytes"
	"context"
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
