#!/usr/bin/env bash
# make bench: runs every benchmark with the services they need. The figures
# go into BENCHMARKS.md by hand, each beside its anchor from the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap cleanup EXIT
trap 'exit 130' INT TERM
go_ready
start_postgres
start_pcscd
go test -run '^$' -bench "${BENCH:-.}" -benchmem -count "${COUNT:-1}" ${BENCHTIME:+-benchtime "$BENCHTIME"} ${PKGS:-./...}
