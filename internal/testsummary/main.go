// Command testsummary reads `go test -json` on standard input and prints
// what a CI log needs: one line per package, every skipped test with the
// reason it gave (so a test that did not run is never silent), the output of
// every failed test, and the log lines tests mark with "puce:" to say which
// real services they ran against. It exits 1 when anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type key struct{ pkg, test string }

func main() {
	failed, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

func summarize(in io.Reader, out io.Writer) (failed bool, err error) {
	outputs := map[key][]string{}
	var skips, fails, notes []string
	var pkgs []string
	pkgResult := map[string]string{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil || e.Action == "" {
			// Build errors arrive as plain text.
			fmt.Fprintln(out, string(line))
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			outputs[k] = append(outputs[k], e.Output)
			if i := strings.Index(e.Output, "puce: "); i >= 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %s", short(e.Package), e.Test, strings.TrimSpace(e.Output[i+6:])))
			}
		case "skip":
			if e.Test != "" {
				skips = append(skips, fmt.Sprintf("%s %s: %s", short(e.Package), e.Test, reason(outputs[k])))
			}
		case "fail":
			if e.Test != "" {
				fails = append(fails, fmt.Sprintf("--- FAIL %s %s\n%s", short(e.Package), e.Test, strings.Join(outputs[k], "")))
			} else {
				failed = true
			}
			if e.Test == "" {
				pkgResult[e.Package] = fmt.Sprintf("FAIL %s (%.1fs)", e.Package, e.Elapsed)
				if len(outputs[k]) > 0 {
					fails = append(fails, fmt.Sprintf("--- FAIL %s\n%s", e.Package, strings.Join(outputs[k], "")))
				}
			}
		case "pass":
			if e.Test == "" {
				pkgResult[e.Package] = fmt.Sprintf("ok   %s (%.1fs)", e.Package, e.Elapsed)
			}
		case "start":
			pkgs = append(pkgs, e.Package)
		}
		if e.Test == "" && e.Action == "skip" {
			pkgResult[e.Package] = fmt.Sprintf("--   %s (no tests)", e.Package)
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		if r, ok := pkgResult[p]; ok {
			fmt.Fprintln(out, r)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(out, "RAN  ", n)
	}
	for _, s := range skips {
		fmt.Fprintln(out, "SKIP ", s)
	}
	for _, f := range fails {
		fmt.Fprint(out, f)
	}
	return failed || len(fails) > 0, nil
}

func short(pkg string) string { return strings.TrimPrefix(pkg, "github.com/puce-id/puce/") }

// reason picks the message a skipped test gave: its last line of output
// other than the --- SKIP line itself.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		return l
	}
	return "(no reason given)"
}
