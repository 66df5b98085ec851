package puce_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocListsEveryPackage: the package comment in doc.go is where a
// newcomer finds the map of the library, so every importable package must be
// on it (examples and internal packages are not importable by users).
func TestDocListsEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	list, _, found := strings.Cut(string(doc), "# Quick start")
	if !found {
		t.Fatal("doc.go has no Quick start section after its package list")
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^//\t([a-z0-9/]+)\s`).FindAllStringSubmatch(list, -1) {
		listed[m[1]] = true
	}
	var missing []string
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		base := d.Name()
		if path != "." && (strings.HasPrefix(base, ".") || base == "testdata" || base == "internal" || base == "examples" || base == "scripts") {
			return filepath.SkipDir
		}
		if path == "." || !hasPackage(t, path) {
			return nil
		}
		if !listed[filepath.ToSlash(path)] {
			missing = append(missing, path)
		}
		delete(listed, filepath.ToSlash(path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("doc.go does not list %v", missing)
	}
	for p := range listed {
		t.Errorf("doc.go lists %s, which is no package", p)
	}
}

// hasPackage: the directory holds a non-test Go file.
func hasPackage(t *testing.T, dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			return true
		}
	}
	return false
}
