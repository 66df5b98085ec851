#!/usr/bin/env bash
# make test: installs what is missing, starts the services the tests need,
# runs vet, gofmt, the race-enabled tests and a short fuzzing pass, and stops
# the services again, whether the tests pass or not.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap cleanup EXIT
trap 'exit 130' INT TERM

FUZZTIME=${FUZZTIME:-3s}

go_ready
start_postgres
start_pcscd
# Real peers the tests drive: OpenSSL checks our CMS signatures; Debian's
# Chromium runs the browser tests (no browser download at run time);
# yubico-piv-tool and OpenSC's PKCS#11 module drive the virtual PIV card
# through pcscd as independent middleware. Poppler's pdfsig (with NSS's
# certutil) and qpdf check the PDF signatures of pcsc/esign/pades, and MuPDF's
# mutool (mupdf-tools) and poppler (its GLib bindings, from python3-gi) fill
# their forms after signing. pcsc-tools'
# ATR_analysis decodes the virtual card's ATR; libp11's OpenSSL engine has
# openssl sign with the card through OpenSC's PKCS#11 module. OpenPACE
# (libeac-dev, with gcc, pkg-config and OpenSSL's headers to build the C peer
# in pcsc/emrtd/testdata/openpace at test time; openpace for its CV
# certificate tools) runs PACE against pcsc/emrtd's reader and virtual chip.
apt_install openssl chromium fonts-dejavu-core yubico-piv-tool opensc poppler-utils qpdf mupdf-tools python3-gi gir1.2-poppler-0.18 libnss3-tools oathtool pcsc-tools libengine-pkcs11-openssl gcc libc6-dev pkg-config libssl-dev libeac-dev openpace

say "go vet ./..."
go vet ./...

say "gofmt"
bad=$(gofmt -l .)
[ -z "$bad" ] || die "gofmt would change: $bad"

# Every package that does not reach the PC/SC binding builds without cgo;
# the architecture test keeps the library's server path among them.
say "building without cgo every package that does not use PC/SC"
nocgo=$(go list -f '{{.ImportPath}}{{range .Deps}}{{if eq . "github.com/ebfe/scard"}} pcsc{{end}}{{end}}' ./... | awk 'NF == 1')
say "  (needing cgo: $(go list -f '{{.ImportPath}}{{range .Deps}}{{if eq . "github.com/ebfe/scard"}} pcsc{{end}}{{end}}' ./... | awk 'NF > 1 { sub("github.com/puce-id/puce/", "", $1); printf "%s ", $1 }'))"
CGO_ENABLED=0 go build $nocgo

say "go test -race ./..."
# -json through testsummary: one line per package, and every skipped test
# with its reason, so a test that did not run is never silent.
go build -o /tmp/puce-testsummary ./internal/testsummary
set +e
go test -race -count=1 -json ./... 2>&1 | /tmp/puce-testsummary
rc=${PIPESTATUS[1]}
set -e
[ "$rc" -eq 0 ] || die "tests failed"

# Each fuzz target runs briefly on top of its committed corpus
# (testdata/fuzz); long runs are for developers' machines. Go 1.26's fuzz
# coordinator can end a timed run with a bare "context deadline exceeded"
# and no crasher (golang/go#75804, fixed in Go 1.27): that one outcome is
# reported and passed over; any other failure, or a written reproducer, fails.
# -fuzzminimizetime 1s: Go shrinks every input that finds new coverage for up
# to a minute by default, counting none of it as fuzzing; on inputs of a few
# hundred bytes (PIV objects, CMS, PDF) that took 10 s or more an input, and
# a one-minute run of esign's FuzzVerify ran 438 inputs and minimised for the
# remaining 57 s (19525 inputs, 51 new, with the cap). Crashers still shrink,
# for a second: they reproduce unshrunk too.
say "fuzzing each target for $FUZZTIME"
log=$(mktemp)
while IFS= read -r file; do
	dir=$(dirname "$file")
	for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		corpus="$dir/testdata/fuzz/$name"
		# No corpus directory yet is 0 files, not a failure (pipefail, set -e).
		before=$( (ls "$corpus" 2>/dev/null || true) | wc -l)
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s "./$dir" >"$log" 2>&1; then
			printf '    %-32s %s ok\n' "$name" "$dir" >&2
		elif [ "$(ls "$corpus" 2>/dev/null | wc -l)" -eq "$before" ] && grep -q '^    context deadline exceeded$' "$log" &&
			[ "$(grep -c -- '--- FAIL' "$log")" -eq 1 ]; then
			printf '    %-32s %s ok (ended by the Go 1.26 fuzz deadline race, golang/go#75804)\n' "$name" "$dir" >&2
		else
			cat "$log" >&2
			rm -f "$log"
			die "fuzz target $name in $dir failed (a reproducer, if any, is in $corpus)"
		fi
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sort)
rm -f "$log"

say "all tests passed"
