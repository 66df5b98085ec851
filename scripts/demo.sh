#!/usr/bin/env bash
# make demo: the two-factor login and document-signing examples, end to end,
# on one machine. It installs what is missing, starts pcscd with the virtual
# reader, a personalised virtual card on it (examples/virtualcard), the card
# agent, and the login and signing servers on SQLite, prints where to go and
# the test PINs, and stops everything on Ctrl-C.
#
#   make demo                       # virtual card on pcscd (needs root or sudo for pcscd)
#   PUCE_DEMO_TESTCARD=1 make demo  # no pcscd: the agent holds a virtual card itself
#   PUCE_DEMO_TERMINAL=1 make demo  # the terminal walk-through of the core API
#
# With a real reader and card, stop the virtual card (it is only a card in a
# virtual reader) and insert yours; give the servers your CA with -ca.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if [ -n "${PUCE_DEMO_TERMINAL:-}" ]; then
	go_ready
	exec go run ./examples/quickstart "$@"
fi

DEMO_DIR=
DEMO_PIDS=()
demo_cleanup() {
	local rc=$? pid
	# Children first (the virtual card leaves the reader), then pcscd and
	# whatever lib.sh started.
	for pid in "${DEMO_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${DEMO_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	[ -n "$DEMO_DIR" ] && rm -rf "$DEMO_DIR"
	stop_pcscd
	stop_postgres
	exit $rc
}
trap demo_cleanup EXIT
# A terminal's Ctrl-C reaches the children too; remember it, so that their
# ending is not reported as a failure.
STOPPING=
trap 'STOPPING=1; exit 130' INT TERM

go_ready
testcard=${PUCE_DEMO_TESTCARD:-}
if [ -z "$testcard" ]; then
	start_pcscd
else
	apt_install libpcsclite-dev
fi

DEMO_DIR=$(mktemp -d /tmp/puce-demo.XXXXXX)
say "building the examples into $DEMO_DIR"
for cmd in login sign cardagent virtualcard ocratoken auditcheck; do
	go build -o "$DEMO_DIR/$cmd" "./examples/$cmd"
done

login_port=$(free_port 8080)
sign_port=$(free_port $((login_port + 1)))
agent_port=$(free_port 24727)
login_url="http://localhost:$login_port"
sign_url="http://localhost:$sign_port"
agent_url="http://127.0.0.1:$agent_port"
ca="$DEMO_DIR/ca.pem"
# The eMRTD's CSCA: the login server's trust anchor for identity documents.
csca="$DEMO_DIR/csca.pem"

# start NAME CMD...: runs a child whose output goes to a log, remembered for
# the cleanup.
start() {
	local name=$1
	shift
	"$@" >"$DEMO_DIR/$name.log" 2>&1 &
	DEMO_PIDS+=($!)
}

# wait_for FILE|URL: waits until the file exists or the URL answers.
wait_for() {
	local i
	for i in $(seq 100); do
		case $1 in
		http*) (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null && return 0 ;;
		*) [ -s "$1" ] && return 0 ;;
		esac
		sleep 0.1
	done
	for f in "$DEMO_DIR"/*.log; do echo "--- $f" >&2; cat "$f" >&2; done
	die "$1 did not come up"
}

# Either way the virtual card's CA answers OCSP for its certificates, so the
# servers check revocation as they would in production.
ocsp_port=$(free_port 8888)
if [ -z "$testcard" ]; then
	start virtualcard "$DEMO_DIR/virtualcard" -ca "$ca" -csca "$csca" -ocsp-listen "127.0.0.1:$ocsp_port"
	wait_for "$ca"
	start cardagent "$DEMO_DIR/cardagent" -addr "127.0.0.1:$agent_port" -allow "$login_url,$sign_url"
else
	start cardagent "$DEMO_DIR/cardagent" -addr "127.0.0.1:$agent_port" -allow "$login_url,$sign_url" \
		-testcard -testcard-ca "$ca" -testcard-csca "$csca" -testcard-ocsp "127.0.0.1:$ocsp_port"
	wait_for "$ca"
fi
wait_for "$csca"
wait_for "$agent_url"
start login "$DEMO_DIR/login" -addr "127.0.0.1:$login_port" -db "$DEMO_DIR/login.db" -agent "$agent_url" -ca "$ca" -csca "$csca" -revocation on
start sign "$DEMO_DIR/sign" -addr "127.0.0.1:$sign_port" -agent "$agent_url" -ca "$ca" -db "$DEMO_DIR/login.db"
wait_for "$login_url"
wait_for "$sign_url"
# A printed OCRA test token for payment approvals: enrolled for the user
# "demo" (who signs up as usual), its key sealed by the login server's
# development sealer key, its letter in ocra-token.json.
ocra_token="$DEMO_DIR/ocra-token.json"
"$DEMO_DIR/ocratoken" -enroll -db "$DEMO_DIR/login.db" -user demo -token "$ocra_token" >"$DEMO_DIR/ocratoken.log" 2>&1 ||
	{ cat "$DEMO_DIR/ocratoken.log" >&2; die "enrolling the OCRA test token failed"; }
ocra_info=$(sed 's/^/    /' "$DEMO_DIR/ocratoken.log")

card_info=$(grep -h -E 'virtual card of|in-process test card|PIN |CAN |MRZ |OCSP ' "$DEMO_DIR"/virtualcard.log "$DEMO_DIR"/cardagent.log 2>/dev/null | sed 's/^/    /' || true)
cat <<EOT

  puce demo is running (Ctrl-C stops everything)

    two-factor login   $login_url
    document signing   $sign_url
    card agent         $agent_url  (its own window asks for the PIN)

  the card
$card_info
    card PIN: 123456 (the virtual card's factory PIN), PUK 12345678

  the OCRA test token (payment approval)
$ocra_info
    sign up as "demo" to have it (and add a login factor as usual); "Send money"
    with it shows a question (the payee account's last 4 digits, then the
    amount in cents): answer it with
      $DEMO_DIR/ocratoken -token $ocra_token -question QUESTION

  try: sign up, add the authenticator app (scan the QR code, or type the key),
  log out and in, add the smart card, log in with it; on the account page,
  "Verify my identity document" (the agent asks for the CAN above and shows
  what would be sent); then sign a document (a PDF gets a PAdES B-LT
  signature inside it, any other file a timestamped .p7s) and verify it,
  and verify an altered copy.

  the audit trail: verify it (and keep each run's mark, which the next run
  checks; -fresh asks for a checkpoint the running server wrote in the last
  10 minutes, which a trail cut back to an older one lacks) with
      $DEMO_DIR/auditcheck -db $DEMO_DIR/login.db -marks $DEMO_DIR/audit-marks.log -fresh 10m

  WARNING: the login server seals TOTP secrets and the audit trail's
  records and checkpoints with DEVELOPMENT keys kept beside its database (see login.log);
  production passes -sealer-keys / PUCE_SEALER_KEYS and -audit-key /
  PUCE_AUDIT_KEY.

  logs: $DEMO_DIR/*.log
EOT
echo

# Wait until Ctrl-C, or until one of the children dies.
while :; do
	for pid in "${DEMO_PIDS[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			# Ended cleanly or by a signal: the user stopped the demo (a
			# terminal's Ctrl-C reaches every process of the group).
			rc=0
			wait "$pid" 2>/dev/null || rc=$?
			if [ -n "$STOPPING" ] || [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then
				exit 130
			fi
			for f in "$DEMO_DIR"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
			die "a demo process stopped"
		fi
	done
	sleep 1
done
