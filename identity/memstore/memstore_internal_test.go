package memstore

import (
	"testing"
	"unsafe"
)

// TestOneCredentialSize: a field added to identity.Credential would push
// oneCredential into a larger allocation class; shrink buf to match.
func TestOneCredentialSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sized for 64-bit platforms")
	}
	if n := unsafe.Sizeof(oneCredential{}); n != 320 {
		t.Fatalf("oneCredential is %d bytes, want 320 (an allocation class): resize buf", n)
	}
}
