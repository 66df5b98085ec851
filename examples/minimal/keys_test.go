package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyNotBase64: a key variable set but mistyped stops the server; it
// used to mean no key (an unsealed audit trail, a sealing key lost at the
// first restart) without a word.
func TestKeyNotBase64(t *testing.T) {
	for _, name := range []string{"PUCE_AUDIT_KEY", "PUCE_SEALER_KEY"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "not base64!")
			err := run(context.Background(), "127.0.0.1:0", "", filepath.Join(t.TempDir(), "minimal.db"), "", "")
			if err == nil || !strings.Contains(err.Error(), "not base64") {
				t.Fatalf("run with %s mistyped: %v, want a refusal", name, err)
			}
		})
	}
}
