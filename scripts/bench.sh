#!/usr/bin/env bash
# make bench: runs every benchmark with the services they need. The figures
# go into BENCHMARKS.md by hand, each beside its anchor from the same run.
# Issue 22's round trips per verification (every factor's Finish on SQLite
# and PostgreSQL, with statements, round trips and commits per operation):
#   BENCH=RoundTrips PKGS="./identity/ ./totp/ ./webauthn/ ./pcsc/cardauth/" \
#     COUNT=5 BENCHTIME=1000x make bench
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap cleanup EXIT
trap 'exit 130' INT TERM
go_ready
start_postgres
start_pcscd
go test -run '^$' -bench "${BENCH:-.}" -benchmem -count "${COUNT:-1}" ${BENCHTIME:+-benchtime "$BENCHTIME"} ${PKGS:-./...}
