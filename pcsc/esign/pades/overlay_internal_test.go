package pades

import "testing"

// TestVisibleFlags: which annotation flags (ISO 32000-1 §12.5.3, Table
// 165) leave an annotation undrawn. Hidden draws nothing, on screen or
// paper; NoView hides it on screen only — printed (Print) or shown when
// the pointer passes (ToggleNoView), it draws.
func TestVisibleFlags(t *testing.T) {
	doc := &document{xref: map[int]xrefEntry{}}
	for flags, want := range map[string]bool{"": true, "4": true, "2": false, "6": false, "32": false, "36": true, "288": true, "132": true} {
		d := newDict()
		d.set("Rect", array{number("10"), number("10"), number("200"), number("50")})
		if flags != "" {
			d.set("F", number(flags))
		}
		if _, got := visible(doc, d); got != want {
			t.Errorf("/F %s: visible %v, want %v", flags, got, want)
		}
	}
	d := newDict()
	d.set("Rect", array{number("10"), number("10"), number("10"), number("50")})
	if _, got := visible(doc, d); got {
		t.Error("a /Rect with no area draws")
	}
}
