package agent

import (
	"strings"
	"testing"
	"unicode"
)

// The preview is what the holder reads of a document before signing its
// bytes. Format characters (Unicode category Cf: the bidirectional
// overrides and isolates, zero-width characters) change how the text
// shows without being seen themselves: "Amount: 1000 EUR" can be bytes
// that read "Amount: 0001 EUR" to every other program (the "Trojan
// Source" trick, CVE-2021-42574; Unicode UAX #9). The holder must see the
// characters that are signed, so the preview names them instead.
func TestPreviewShowsFormatCharacters(t *testing.T) {
	doc := []byte("Contract\nAmount: \u202E0001\u202C EUR\nPayee: Mal\u200Blory\n")
	p := preview(doc)
	if p == "" {
		t.Fatal("no preview for a text document")
	}
	for _, r := range p {
		if unicode.Is(unicode.Cf, r) {
			t.Fatalf("the preview holds the invisible character %U: %q", r, p)
		}
	}
	for _, want := range []string{"U+202E", "U+202C", "U+200B", "0001"} {
		if !strings.Contains(p, want) {
			t.Fatalf("the preview does not show %s: %q", want, p)
		}
	}
	if got := preview([]byte("plain text\n")); got != "plain text\n" {
		t.Fatalf("plain text preview %q", got)
	}
}

// The name the site gives a document shows its format characters too:
// "invoice\u202Efdp.exe" must not read as "invoiceexe.pdf".
func TestDocumentNameShowsFormatCharacters(t *testing.T) {
	if got := visible("invoice\u202Efdp.exe"); got != "invoice[U+202E]fdp.exe" {
		t.Fatalf("visible: %q", got)
	}
}
