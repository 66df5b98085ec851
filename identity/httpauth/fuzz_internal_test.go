package httpauth

import (
	"strings"
	"testing"
)

// FuzzParseToken feeds cookie values: whatever a browser or an attacker
// sends. A value is accepted only in the one canonical form of 32 bytes, so
// no two cookie values name one session.
func FuzzParseToken(f *testing.F) {
	good := newToken().String()
	f.Add(good)
	f.Add("")
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("_", 43))
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := parseToken(s)
		if !ok {
			if tok != (token{}) {
				t.Fatal("a refused value left bytes in the token")
			}
			return
		}
		if tok.String() != s {
			t.Fatalf("accepted %q, which is not the canonical %q", s, tok.String())
		}
		if c := tok.csrf(); len(c) != 43 || c == s {
			t.Fatalf("CSRF token %q", c)
		}
	})
}
