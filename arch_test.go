package puce_test

import (
	"errors"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/puce-id/puce"

// importGraph maps each package of the module to what its non-test files
// import, read from the sources on every platform at once: a rule broken on
// Windows only is still broken.
func importGraph(t *testing.T, root string) map[string][]string {
	t.Helper()
	g := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := module
		if rel != "." {
			pkg += "/" + filepath.ToSlash(rel)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			g[pkg] = append(g[pkg], p)
		}
		if _, ok := g[pkg]; !ok {
			g[pkg] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// reaches returns the chain of imports from pkg to a package matching
// target, or nil.
func reaches(g map[string][]string, pkg string, target func(string) bool) []string {
	seen := map[string]bool{}
	var walk func(p string) []string
	walk = func(p string) []string {
		if seen[p] {
			return nil
		}
		seen[p] = true
		for _, imp := range g[p] {
			if target(imp) {
				return []string{p, imp}
			}
			if strings.HasPrefix(imp, module) {
				if chain := walk(imp); chain != nil {
					return append([]string{p}, chain...)
				}
			}
		}
		return nil
	}
	return walk(pkg)
}

func under(prefixes ...string) func(string) bool {
	return func(p string) bool {
		for _, pre := range prefixes {
			if p == module+"/"+pre || strings.HasPrefix(p, module+"/"+pre+"/") {
				return true
			}
		}
		return false
	}
}

func exactly(paths ...string) func(string) bool {
	return func(p string) bool {
		for _, x := range paths {
			if p == x {
				return true
			}
		}
		return false
	}
}

type rule struct {
	name     string
	packages func(string) bool
	forbid   func(string) bool
}

// rules are the dependency rules of the design.
func rules() []rule {
	cgo := exactly(module+"/pcsc", "github.com/ebfe/scard")
	// The HTTP layer lives under identity but above the factors: it serves
	// their begin/finish and maps their errors, so it may import them, and
	// the core may not import it.
	httpLayer := under("identity/httpauth")
	core := func(p string) bool { return under("identity")(p) && !httpLayer(p) }
	return []rule{
		{"identity imports no factor package", core, under("totp", "webauthn", "pcsc")},
		{"identity never imports its HTTP layer", core, httpLayer},
		{"the server path builds without libpcsclite", under("identity", "totp", "webauthn", "pcsc/cardauth"), cgo},
		{"card applications run over apdu.Transport alone", under("pcsc/apdu", "pcsc/piv", "pcsc/emrtd", "pcsc/virtual"), cgo},
		{"no factor package reads the sovereign applet", under("identity", "totp", "webauthn", "pcsc/piv", "pcsc/cardauth"), under("pcsc/emrtd")},
	}
}

func check(g map[string][]string) []string {
	var broken []string
	for _, r := range rules() {
		for pkg := range g {
			if !r.packages(pkg) {
				continue
			}
			if chain := reaches(g, pkg, r.forbid); chain != nil {
				broken = append(broken, r.name+": "+strings.Join(chain, " -> "))
			}
		}
	}
	sort.Strings(broken)
	return broken
}

func TestArchitecture(t *testing.T) {
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	g := importGraph(t, root)
	if len(g) < 5 {
		t.Fatalf("found only %d packages: the walk is broken", len(g))
	}
	for _, b := range check(g) {
		t.Error(b)
	}
}

// TestArchitectureCheckerCatches proves the checker sees an indirect
// violation: a factor reaching pcsc/emrtd through a helper package.
func TestArchitectureCheckerCatches(t *testing.T) {
	g := map[string][]string{
		module + "/pcsc/cardauth":     {module + "/pcsc/cardauth/x", "fmt"},
		module + "/pcsc/cardauth/x":   {module + "/pcsc/emrtd/lds"},
		module + "/pcsc/emrtd/lds":    nil,
		module + "/identity":          {"context"},
		module + "/identity/sqlstore": {module + "/pcsc"},
		module + "/pcsc":              {"github.com/ebfe/scard"},
		// The HTTP layer may use a factor, not the cgo package; the core
		// may not use the HTTP layer.
		module + "/identity/httpauth": {module + "/totp", module + "/pcsc"},
		module + "/identity/memstore": {module + "/identity/httpauth"},
		module + "/totp":              {module + "/identity"},
	}
	got := check(g)
	want := []string{
		"identity imports no factor package: " + module + "/identity/memstore -> " + module + "/identity/httpauth -> " + module + "/totp",
		"identity imports no factor package: " + module + "/identity/sqlstore -> " + module + "/pcsc",
		"identity never imports its HTTP layer: " + module + "/identity/memstore -> " + module + "/identity/httpauth",
		"no factor package reads the sovereign applet: " + module + "/pcsc/cardauth -> " + module + "/pcsc/cardauth/x -> " + module + "/pcsc/emrtd/lds",
		"no factor package reads the sovereign applet: " + module + "/pcsc/cardauth/x -> " + module + "/pcsc/emrtd/lds",
		"the server path builds without libpcsclite: " + module + "/identity/httpauth -> " + module + "/pcsc",
		"the server path builds without libpcsclite: " + module + "/identity/memstore -> " + module + "/identity/httpauth -> " + module + "/pcsc",
		"the server path builds without libpcsclite: " + module + "/identity/sqlstore -> " + module + "/pcsc",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("checker found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The no-cgo rule (DESIGN.md: every package except pcsc itself builds with
// CGO_ENABLED=0) depends on build constraints, which importGraph ignores on
// purpose. This check reads the sources as the go tool does with cgo off,
// once per platform where package pcsc needs cgo (ebfe/scard binds
// libpcsclite on Linux and the PC/SC framework on macOS through cgo; on
// Windows it calls winscard.dll without cgo): no file that such a build
// keeps, test files included, may reach pcsc. A helper that does, like
// internal/pcscdtest, carries //go:build cgo, and so do the tests using it.

// nocgoGOOS are the platforms where package pcsc needs cgo.
var nocgoGOOS = []string{"linux", "darwin"}

// cgoOnly are the packages that need cgo.
func cgoOnly(p string) bool { return p == module+"/pcsc" || p == "github.com/ebfe/scard" }

// nocgoPackage is what a cgo-less build of one package on one platform
// compiles: the imports of its library files, and those of its tests.
type nocgoPackage struct {
	imports, testImports []string
}

// nocgoGraph reads every package of the module as a CGO_ENABLED=0 build
// for goos sees it.
func nocgoGraph(t *testing.T, root, goos string) map[string]nocgoPackage {
	t.Helper()
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = goos, "amd64", false
	g := map[string]nocgoPackage{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
			return filepath.SkipDir
		}
		p, err := ctx.ImportDir(path, build.ImportComment)
		var none *build.NoGoError
		if errors.As(err, &none) {
			return nil // no Go files, or none for this build
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		pkg := module
		if rel != "." {
			pkg += "/" + filepath.ToSlash(rel)
		}
		g[pkg] = nocgoPackage{imports: p.Imports, testImports: append(append([]string(nil), p.TestImports...), p.XTestImports...)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// checkNoCgo returns, for one platform, every package that a cgo-less
// build cannot compile, with the chain of imports that reaches pcsc.
func checkNoCgo(goos string, g map[string]nocgoPackage) []string {
	lib := map[string][]string{}
	for p, n := range g {
		lib[p] = n.imports
	}
	var broken []string
	for pkg, n := range g {
		if cgoOnly(pkg) {
			continue
		}
		if chain := reaches(lib, pkg, cgoOnly); chain != nil {
			broken = append(broken, goos+": "+strings.Join(chain, " -> "))
			continue
		}
		// go vet and go test build the tests too.
		for _, imp := range n.testImports {
			if cgoOnly(imp) {
				broken = append(broken, goos+" (tests): "+pkg+" -> "+imp)
				break
			}
			if chain := reaches(lib, imp, cgoOnly); chain != nil {
				broken = append(broken, goos+" (tests): "+pkg+" -> "+strings.Join(chain, " -> "))
				break
			}
		}
	}
	sort.Strings(broken)
	return broken
}

func TestNoCgoBuild(t *testing.T) {
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, goos := range nocgoGOOS {
		g := nocgoGraph(t, root, goos)
		if len(g) < 5 {
			t.Fatalf("%s: found only %d packages: the walk is broken", goos, len(g))
		}
		// The walk must see what the rule is about: pcsc reaching scard.
		if chain := reaches(map[string][]string{module + "/pcsc": g[module+"/pcsc"].imports}, module+"/pcsc", cgoOnly); chain == nil {
			t.Fatalf("%s: pcsc does not import ebfe/scard in a cgo-less build: the check reads nothing", goos)
		}
		for _, b := range checkNoCgo(goos, g) {
			t.Errorf("needs cgo, breaking CGO_ENABLED=0 (put it behind //go:build cgo): %s", b)
		}
	}
}

// TestNoCgoCheckerCatches proves the check sees a helper that reaches pcsc
// without a build constraint, directly or from a test, and lets pcsc itself
// be.
func TestNoCgoCheckerCatches(t *testing.T) {
	g := map[string]nocgoPackage{
		module + "/pcsc":                {imports: []string{"github.com/ebfe/scard"}, testImports: []string{module + "/internal/vpcdlock"}},
		module + "/internal/pcscdtest":  {imports: []string{"testing", module + "/pcsc"}},
		module + "/internal/vpcdlock":   {imports: []string{"testing"}},
		module + "/pcsc/piv":            {imports: []string{module + "/pcsc/apdu"}, testImports: []string{module + "/internal/pcscdtest"}},
		module + "/pcsc/apdu":           {},
		module + "/pcsc/cardauth":       {testImports: []string{module + "/pcsc"}},
		module + "/examples/cardagent":  {imports: []string{module + "/pcsc/piv"}},
		module + "/pcsc/virtual/bridge": {imports: []string{module + "/internal/pcscdtest"}},
	}
	got := checkNoCgo("linux", g)
	want := []string{
		"linux (tests): " + module + "/pcsc/cardauth -> " + module + "/pcsc",
		"linux (tests): " + module + "/pcsc/piv -> " + module + "/internal/pcscdtest -> " + module + "/pcsc",
		"linux: " + module + "/internal/pcscdtest -> " + module + "/pcsc",
		"linux: " + module + "/pcsc/virtual/bridge -> " + module + "/internal/pcscdtest -> " + module + "/pcsc",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("checker found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
