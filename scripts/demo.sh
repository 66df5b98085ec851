#!/usr/bin/env bash
# make demo: the best demo puce has. For now, a terminal walk-through of a
# two-factor login on an embedded SQLite store; the web examples replace it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
go_ready
go run ./examples/quickstart "$@"
