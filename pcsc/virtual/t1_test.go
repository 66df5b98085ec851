package virtual_test

import (
	"strings"
	"testing"

	"github.com/puce-id/puce/pcsc/virtual"
)

// TestNoLeAnswersLikeT1 checks how much data the card sends for a command
// without Le (cases 1 and 3): under T=1 the card answers with the data the
// command produced and 9000 when one response of the command's form holds it
// (256 bytes short, 65536 extended), and keeps only the rest for GET
// RESPONSE (61xx). PIV middleware (libykpiv) selects with a case 3 SELECT and
// takes nothing but 9000.
func TestNoLeAnswersLikeT1(t *testing.T) {
	card, _ := newEchoCard(t, virtual.Config{})
	// SELECT without Le: the application template, 9000.
	if got := send(t, card, "00A4040009F070756365454348 4F"); got != "610B4F09F0707563654543484F9000" {
		t.Fatalf("SELECT without Le: %s, want the template and 9000", got)
	}
	for _, tc := range []struct {
		name, cmd  string
		data       int
		sw         string
		getRespond string // GET RESPONSE sent next, with its answer's data length
		rest       int
	}{
		{"case 1, 100 bytes", "00E20064", 100, "9000", "", 0},
		{"case 1, 256 bytes", "00E20100", 256, "9000", "", 0},
		{"case 1, 300 bytes: 256 and 61xx", "00E2012C", 256, "612C", "00C000002C", 44},
		{"case 1, 600 bytes: 256 and 6100", "00E20258", 256, "6100", "00C0000000", 256},
		{"case 3, 200 bytes echoed", "00E10000C8" + strings.Repeat("AB", 200), 200, "9000", "", 0},
		// With Le, Ne bounds the answer as before.
		{"case 2, Le 16 of 100", "00E2006410", 16, "6154", "00C0000054", 84},
	} {
		got := send(t, card, tc.cmd)
		if n := len(got)/2 - 2; n != tc.data || sw(got) != tc.sw {
			t.Errorf("%s: %d bytes and %s, want %d and %s", tc.name, n, sw(got), tc.data, tc.sw)
			continue
		}
		if tc.getRespond == "" {
			continue
		}
		got = send(t, card, tc.getRespond)
		if n := len(got)/2 - 2; n != tc.rest || (tc.rest < 256 && sw(got) != "9000") {
			t.Errorf("%s: GET RESPONSE %s gave %d bytes and %s, want %d", tc.name, tc.getRespond, n, sw(got), tc.rest)
		}
	}
	// GET RESPONSE itself is a case 2 command: without Le it is malformed.
	send(t, card, "00E2012C")
	if got := send(t, card, "00C00000"); got != "6700" {
		t.Errorf("GET RESPONSE without Le: %s, want 6700", got)
	}

	// An extended case 3 command may be answered with up to 65536 bytes.
	long, _ := newEchoCard(t, virtual.Config{ExtendedLength: true})
	send(t, long, selectEcho)
	if got := send(t, long, "00E1000000012C"+strings.Repeat("CD", 300)); len(got) != 2*300+4 || sw(got) != "9000" {
		t.Errorf("extended case 3 echoing 300 bytes: %d hex digits, %s; want 300 bytes and 9000", len(got), sw(got))
	}
}
