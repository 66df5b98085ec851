package identity_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/puce-id/puce/identity"
)

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

// TestAuditConfigCheck: an empty key is no key (what a configuration that
// read an unset variable holds), a short one is refused, and the defaults
// are filled in.
func TestAuditConfigCheck(t *testing.T) {
	c, err := identity.AuditConfig{Key: []byte{}}.Check()
	if err != nil || c.Key != nil || c.Partitions != 16 || c.CheckpointEvery != 100 {
		t.Fatalf("empty key: %+v, %v", c, err)
	}
	if _, err := (identity.AuditConfig{Key: make([]byte, 31)}).Check(); !errors.Is(err, identity.ErrBadInput) {
		t.Fatalf("31-byte key: %v", err)
	}
	if c, err := (identity.AuditConfig{Key: make([]byte, 32)}).Check(); err != nil || len(c.Key) != 32 {
		t.Fatalf("32-byte key: %+v, %v", c, err)
	}
}
