package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The example's promise: its own glue is at most 80 lines of Go and 40 of
// HTML and JavaScript. Counted as cloc would: blank lines and Go comment
// lines do not count; imports, braces and markup do.
func TestGlueLines(t *testing.T) {
	count := func(file string, comment *regexp.Regexp) int {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && (comment == nil || !comment.MatchString(l)) {
				n++
			}
		}
		return n
	}
	goLines := count("main.go", regexp.MustCompile(`^//`))
	webLines := count("index.html", nil)
	t.Logf("puce: examples/minimal glue: %d lines of Go (main.go), %d of HTML and JavaScript (index.html)", goLines, webLines)
	if goLines > 80 || webLines > 40 {
		t.Fatalf("glue grew past 80 lines of Go (%d) or 40 of HTML/JS (%d): grow the library instead", goLines, webLines)
	}
}
