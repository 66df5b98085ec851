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
