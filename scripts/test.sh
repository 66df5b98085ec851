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

say "go vet ./..."
go vet ./...

say "gofmt"
bad=$(gofmt -l .)
[ -z "$bad" ] || die "gofmt would change: $bad"

say "building every package but pcsc without cgo"
CGO_ENABLED=0 go build $(go list ./... | grep -v -E '/pcsc$')

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
# (testdata/fuzz); long runs are for developers' machines.
say "fuzzing each target for $FUZZTIME"
while IFS= read -r file; do
	dir=$(dirname "$file")
	for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir" >/tmp/puce-fuzz.log 2>&1 ||
			{ cat /tmp/puce-fuzz.log >&2; die "fuzz target $name in $dir failed"; }
		printf '    %-28s %s ok\n' "$name" "$dir" >&2
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sort)

say "all tests passed"
