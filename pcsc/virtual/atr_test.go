package virtual_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/virtual"
)

// TestDefaultATRAnnouncesWhatTheCardDoes: the default ATR's card
// capabilities (ISO/IEC 7816-4 §12.1.1, compact-TLV 73 in the historical
// bytes) announce command chaining always and extended Lc and Le exactly
// when the card accepts extended APDUs, and the card behaves so: an
// extended APDU gets 6700 from a card that does not announce them.
func TestDefaultATRAnnouncesWhatTheCardDoes(t *testing.T) {
	for _, ext := range []bool{false, true} {
		card, _ := newEchoCard(t, virtual.Config{ExtendedLength: ext})
		atr := card.ATR()
		if !bytes.Equal(atr, virtual.DefaultATR(ext)) {
			t.Fatalf("extended %v: ATR %X, want DefaultATR", ext, atr)
		}
		if len(atr) < 4 || atr[0] != 0x3B || int(atr[1]&0x0F) != len(atr)-5 {
			t.Fatalf("ATR %X: want TS 3B, T0, TD1, TD2, historical bytes, TCK", atr)
		}
		var x byte
		for _, b := range atr[1:] {
			x ^= b
		}
		if x != 0 {
			t.Errorf("ATR %X has a wrong TCK", atr)
		}
		hist := atr[4 : len(atr)-1]
		i := bytes.Index(hist, []byte{0x73})
		if hist[0] != 0x80 || i < 0 || i+3 >= len(hist) {
			t.Fatalf("historical bytes %X: want category 80 and card capabilities 73", hist)
		}
		caps := hist[i+3]
		if caps&0x80 == 0 || (caps&0x40 != 0) != ext {
			t.Errorf("extended %v: third software function table %02X", ext, caps)
		}
		send(t, card, selectEcho)
		got := send(t, card, "00E1000000012C"+strings.Repeat("CD", 300))
		if ext != (sw(got) == "9000") || !ext && sw(got) != "6700" {
			t.Errorf("extended %v: extended case 3 command answered %s", ext, sw(got))
		}
	}
}

// TestConfiguredATRMustNotPromiseExtendedLength: NewCard refuses an ATR
// whose card capabilities announce extended Lc and Le for a card without
// Config.ExtendedLength, which would answer 6700 to what the host was told
// to send; the same ATR on a card that accepts them, and a silent ATR on
// either, are fine.
func TestConfiguredATRMustNotPromiseExtendedLength(t *testing.T) {
	yubiKey := []byte{0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40}
	statusAfter := []byte{0x3B, 0x88, 0x80, 0x01, 0x00, 0x73, 0xC0, 0x21, 0xC0, 0x00, 0x90, 0x00, 0x00}
	for _, tc := range []struct {
		name    string
		atr     []byte
		ext, ok bool
	}{
		{"YubiKey 5's ATR, short card", yubiKey, false, false},
		{"YubiKey 5's ATR, extended card", yubiKey, true, true},
		{"category 00 with status, short card", statusAfter, false, false},
		{"default extended ATR, short card", virtual.DefaultATR(true), false, false},
		{"default short ATR, extended card", virtual.DefaultATR(false), true, true},
		{"no historical bytes, short card", []byte{0x3B, 0x00}, false, true},
		{"truncated, short card", []byte{0x3B, 0xFD, 0x13}, false, true},
	} {
		_, err := virtual.NewCard(virtual.Config{ATR: tc.atr, ExtendedLength: tc.ext})
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, virtual.ErrConfig) {
			t.Errorf("%s: %v, want accepted %v", tc.name, err, tc.ok)
		}
	}
}

// TestATRAnalysis has pcsc-tools' ATR_analysis, an ATR parser nobody here
// wrote, decode both default ATRs: T=1 offered, a correct TCK, command
// chaining, and extended Lc and Le fields only on the card that accepts
// them. Skipped when pcsc-tools is absent, except under CI=true, where
// make test installs it.
func TestATRAnalysis(t *testing.T) {
	tool, err := exec.LookPath("ATR_analysis")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ATR_analysis is not installed and CI=true: make test installs it (apt-get install pcsc-tools)")
		}
		t.Skipf("SKIPPING %s: ATR_analysis is not installed (apt-get install pcsc-tools)", t.Name())
	}
	// ATR_analysis fetches a list of known cards from the network when its
	// cached copy is missing or older than ten hours: a fresh empty one
	// keeps it offline.
	cache := t.TempDir()
	if err := os.WriteFile(filepath.Join(cache, "smartcard_list.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, tool, fmt.Sprintf("% X", virtual.DefaultATR(ext)))
		cmd.Env = append(os.Environ(), "HOME="+cache, "XDG_CACHE_HOME="+cache)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("ATR_analysis: %v\n%s", err, out)
		}
		text := string(out)
		for _, want := range []string{"Protocol T = 1", "(correct checksum)", "Category indicator byte: 80 (compact TLV data object)",
			"(card capabilities)", "DF selection by full DF name", "DF selection by partial DF name", "- Command chaining",
			"Maximum number of logical channels: 1", "(card issuer's data)"} {
			if !strings.Contains(text, want) {
				t.Errorf("extended %v: ATR_analysis lacks %q:\n%s", ext, want, text)
			}
		}
		if got := strings.Contains(text, "Extended Lc and Le fields"); got != ext {
			t.Errorf("extended %v: ATR_analysis reads extended Lc and Le: %v\n%s", ext, got, text)
		}
		if strings.Contains(text, "Updating") {
			t.Errorf("ATR_analysis went to the network:\n%s", text)
		}
	}
}
