package identity_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/puce-id/puce/identity"
)

func TestSentinel(t *testing.T) {
	err := identity.Sentinel("factor: malformed code", identity.ErrInvalidResponse, identity.ErrBadInput)
	wrapped := fmt.Errorf("finish: %w", err)
	for _, target := range []error{err, identity.ErrInvalidResponse, identity.ErrBadInput} {
		if !errors.Is(wrapped, target) {
			t.Errorf("errors.Is(%v, %v) = false", wrapped, target)
		}
	}
	if errors.Is(wrapped, identity.ErrReplayed) {
		t.Error("matches a family it was not given")
	}
	if errors.Is(identity.Sentinel("factor: malformed code", identity.ErrBadInput), err) {
		t.Error("two sentinels with the same message are the same error")
	}
	if got := err.Error(); got != "factor: malformed code" {
		t.Errorf("message %q", got)
	}
}
