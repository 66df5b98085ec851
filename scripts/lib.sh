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

# start_pcscd makes sure pcscd runs with the vsmartcard vpcd driver (reader
# "Virtual PCD 00 00" on 127.0.0.1:35963) for the card tests, and exports
# PUCE_PCSCD=1 and PUCE_PCSCD_BIN (the tests run private pcscd instances of
# their own from it). A pcscd already listening on its socket is reused;
# otherwise one runs in the foreground as our child, which stop_pcscd (from
# the EXIT trap) stops. pcscd 1.9.9 exits when idle only with --auto-exit,
# which is not given.
PCSCD_SOCK=/run/pcscd/pcscd.comm
PCSCD_PID=
PCSCD_LOG=
start_pcscd() {
	apt_install pcscd libpcsclite-dev vsmartcard-vpcd
	local bin conf=/etc/reader.conf.d/vpcd i
	bin=$(command -v pcscd || echo /usr/sbin/pcscd)
	[ -x "$bin" ] || die "pcscd not found (package pcscd)"
	[ -f "$conf" ] || die "$conf is missing: reinstall vsmartcard-vpcd"
	export PUCE_PCSCD_BIN=$bin
	if pcscd_listening; then
		# Started on demand by systemd, pcscd may still be loading drivers.
		for i in $(seq 50); do tcp_listening 35963 && break; sleep 0.1; done
		tcp_listening 35963 ||
			die "a pcscd is running without the vpcd reader: restart it (systemctl restart pcscd) so that it loads $conf"
		say "using the pcscd already running on $PCSCD_SOCK"
	else
		[ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null || die "need root to start pcscd (run as root, or give this user password-less sudo)"
		local run=()
		[ "$(id -u)" -eq 0 ] || run=(sudo -n)
		PCSCD_LOG=$(mktemp /tmp/puce-pcscd.XXXXXX)
		"${run[@]}" "$bin" --foreground >"$PCSCD_LOG" 2>&1 &
		PCSCD_PID=$!
		for i in $(seq 100); do
			kill -0 "$PCSCD_PID" 2>/dev/null || { cat "$PCSCD_LOG" >&2; die "pcscd exited at start"; }
			pcscd_listening && tcp_listening 35963 && break
			sleep 0.1
		done
		pcscd_listening && tcp_listening 35963 || { cat "$PCSCD_LOG" >&2; die "pcscd did not come up with the vpcd reader"; }
		say "pcscd $("$bin" --version 2>/dev/null | awk 'NR == 1 { sub(/\.$/, "", $3); print $3 }') running (pid $PCSCD_PID, vpcd reader on 127.0.0.1:35963)"
	fi
	export PUCE_PCSCD=1
}

# pcscd_listening: something listens on pcscd's socket (a file left by a
# dead pcscd does not count).
pcscd_listening() {
	awk -v p="$PCSCD_SOCK" '$NF == p && $4 == "00010000" { found = 1 } END { exit !found }' /proc/net/unix 2>/dev/null
}

# tcp_listening PORT: a TCP socket listens on PORT. It looks instead of
# connecting, since connecting to vpcd's port is inserting a card.
tcp_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'substr($2, length($2) - 4) == p && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

stop_pcscd() {
	[ -n "$PCSCD_PID" ] || return 0
	local i
	# Under set -e a failed kill (pcscd gone already) must not end cleanup.
	if [ "$(id -u)" -eq 0 ]; then kill -TERM "$PCSCD_PID"; else sudo -n kill -TERM "$PCSCD_PID"; fi 2>/dev/null || true
	for i in $(seq 50); do kill -0 "$PCSCD_PID" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$PCSCD_PID" 2>/dev/null; then
		if [ "$(id -u)" -eq 0 ]; then kill -KILL "$PCSCD_PID"; else sudo -n kill -KILL "$PCSCD_PID"; fi 2>/dev/null || true
	fi
	wait "$PCSCD_PID" 2>/dev/null || true
	rm -f "$PCSCD_LOG"
	PCSCD_PID=
}

# cleanup stops every service this script started; it is the EXIT trap.
cleanup() {
	local rc=$?
	stop_pcscd
	stop_postgres
	exit $rc
}

# go_ready checks that Go is there and fetches the modules.
go_ready() {
	command -v go >/dev/null 2>&1 || die "Go is not installed (see go.mod for the version)"
	go mod download
}
