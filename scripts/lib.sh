# Shared shell functions for make test, make demo and make bench. Sourced,
# never run. Everything here must work on a fresh Debian machine with only Go
# installed, with no standard input (CI=true), and must leave nothing running.

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# as_root runs a command as root: directly when we are root, through
# non-interactive sudo otherwise.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		die "need root to run: $* (run as root, or give this user password-less sudo)"
	fi
}

# apt_install installs the Debian packages that are not installed yet. While it
# runs, a policy-rc.d stops package scripts from starting services (a default
# PostgreSQL cluster, a system pcscd): the tests start their own, and must
# leave no process behind.
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]}, and no apt-get to install them"
	say "installing Debian packages: ${missing[*]}"
	local policy=/usr/sbin/policy-rc.d added=
	if [ ! -e "$policy" ]; then
		as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
		added=1
	fi
	local rc=0
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
	[ $rc -eq 0 ] && { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?; }
	[ -n "$added" ] && as_root rm -f "$policy"
	[ $rc -eq 0 ] || die "apt-get failed installing ${missing[*]}"
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for p in $(seq "${1:-55432}" "$(( ${1:-55432} + 200 ))"); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

pg_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# start_postgres starts a throwaway PostgreSQL cluster on a free loopback
# port and exports PUCE_POSTGRES_DSN. stop_postgres (run from the EXIT trap)
# stops it and deletes its files.
PG_DIR=
start_postgres() {
	if [ -n "${PUCE_POSTGRES_DSN:-}" ]; then
		say "using the PostgreSQL given by PUCE_POSTGRES_DSN"
		return 0
	fi
	[ -n "$(pg_bin)" ] || apt_install postgresql
	local bin port run=()
	bin=$(pg_bin) || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
	port=$(free_port 55432)
	PG_DIR=$(mktemp -d /tmp/puce-pg.XXXXXX)
	chmod 755 "$PG_DIR"
	# PostgreSQL refuses to run as root: use the postgres account then.
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
		chown postgres "$PG_DIR"
		run=(runuser -u postgres --)
	fi
	"${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -U puce --auth=trust --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
	"${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
		-o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null ||
		{ cat "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
	PG_RUN=("${run[@]}")
	PG_BIN=$bin
	export PUCE_POSTGRES_DSN="postgres://puce@127.0.0.1:$port/postgres?sslmode=disable"
	say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') running on 127.0.0.1:$port (throwaway cluster in $PG_DIR)"
}

stop_postgres() {
	[ -n "$PG_DIR" ] || return 0
	"${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$PG_DIR"
	PG_DIR=
}

# cleanup stops every service this script started; it is the EXIT trap.
cleanup() {
	local rc=$?
	stop_postgres
	exit $rc
}

# go_ready checks that Go is there and fetches the modules.
go_ready() {
	command -v go >/dev/null 2>&1 || die "Go is not installed (see go.mod for the version)"
	go mod download
}
