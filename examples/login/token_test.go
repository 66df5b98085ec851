package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestToken: the demo's software token gives RFC 6287's own answer (Appendix
// C.1, the counter-based suite with SHA-512 and the 64-byte test key), and
// refuses a key that is not hex.
func TestToken(t *testing.T) {
	var out bytes.Buffer
	// RFC 6287 Appendix C.1, OCRA-1:HOTP-SHA512-8:C-QN08, C = 0,
	// Q = "00000000": 07016083.
	key := "3132333435363738393031323334353637383930" + "3132333435363738393031323334353637383930" +
		"3132333435363738393031323334353637383930" + "31323334"
	if err := token([]string{"-suite", "OCRA-1:HOTP-SHA512-8:C-QN08", "-key", key, "-question", "00000000", "-counter", "0"}, &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "07016083" {
		t.Fatalf("answer %q, want 07016083", got)
	}
	if err := token([]string{"-key", "zz", "-question", "1"}, &out); err == nil {
		t.Fatal("a key that is not hex was taken")
	}
}
