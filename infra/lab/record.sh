#!/usr/bin/env bash
# infra/lab/record.sh — record the reference captures in test/captures/ from
# real servers and real clients talking across a veth pair between two network
# namespaces. Run as root:
#
#     sudo infra/lab/record.sh                 # re-record everything
#     sudo infra/lab/record.sh ftp             # every scenario under ftp/
#     sudo infra/lab/record.sh nginx-curl-get  # one scenario (or http/nginx-curl-get)
#     infra/lab/record.sh --list
#
# Each scenario builds a fresh client namespace ("cli") and server namespace
# ("srv"), starts the server(s) with configs written into a scratch dir, waits
# for their ports, starts tcpdump on the server's veth, runs the clients, stops
# tcpdump with SIGINT, sanity-checks the capture (the protocol it claims is in
# it; every packet is ARP or IPv4 inside 198.18.0.0/15) and only then moves it
# to test/captures/<protocol>/<name>.pcap. A failing scenario leaves the
# previous capture untouched and makes the script exit non-zero; traps tear
# down every namespace and process in all cases (see netns.sh).
#
# Environment: LAB_OUT_DIR (default <repo>/test/captures), LAB_KEEP_TMP=1 to
# keep the scratch dir (configs, server logs, tcpdump -A dumps) for debugging.

set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${LAB_OUT_DIR:-$ROOT/test/captures}

# shellcheck source=netns.sh
. "$HERE/netns.sh"

# Scenarios live one protocol per file in scenarios/<protocol>.sh (like one
# dissector per file): each file defines its servers, clients, checks and
# scn_<protocol>_<name> functions and registers them with `scenario
# <protocol>/<name>` (recording order = file name order, then order in the
# file). "selftest-fail" is registered hidden: it builds the lab, starts a
# server and a capture, then fails, to prove that cleanup works (record.sh
# selftest-fail must exit 1, leave nothing); a plain run does not record it.
SCENARIOS=()
HIDDEN_SCENARIOS=()
declare -A SCENARIO_NEEDS=()
# scenario PROTO/NAME [TOOL...]: register a scenario and the tools it needs.
scenario() { SCENARIOS+=("$1"); SCENARIO_NEEDS[$1]="${*:2}"; }
hidden_scenario() { HIDDEN_SCENARIOS+=("$1"); SCENARIO_NEEDS[$1]="${*:2}"; }
# shellcheck source=samba-common.sh
. "$HERE/samba-common.sh"
# shellcheck source=dovecot-common.sh
. "$HERE/dovecot-common.sh"
for f in "$HERE"/scenarios/*.sh; do
	# shellcheck source=/dev/null
	. "$f"
done

usage() {
	cat <<EOF
usage: $0 [--list] [--reap-stale] [scenario|protocol ...]
scenarios: ${SCENARIOS[*]}
With no scenario, records all of them into $OUT.
EOF
}

# ---------------------------------------------------------------- arguments
WANT=()
for arg in "$@"; do
	case $arg in
	-h | --help) usage; exit 0 ;;
	--list) printf '%s\n' "${SCENARIOS[@]}"; exit 0 ;;
	--reap-stale) REAP=1 ;;
	-*) usage >&2; exit 2 ;;
	*)
		found=0
		for s in "${SCENARIOS[@]}" "${HIDDEN_SCENARIOS[@]}"; do
			# accept "http/nginx-curl-get", "nginx-curl-get" or "http"
			if [ "$arg" = "$s" ] || [ "$arg" = "${s#*/}" ] || [ "$arg" = "${s%%/*}" ]; then
				WANT+=("$s")
				found=1
			fi
		done
		if [ "$found" = 0 ]; then
			echo "record.sh: unknown scenario '$arg' (known: ${SCENARIOS[*]})" >&2
			exit 2
		fi
		;;
	esac
done
if [ "${#WANT[@]}" = 0 ]; then
	[ "${REAP:-0}" = 1 ] && [ $# = 1 ] && { lab_reap_stale; exit 0; }
	WANT=("${SCENARIOS[@]}")
fi

# ---------------------------------------------------------------- tools
need() {
	local missing=() t
	for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
	[ "${#missing[@]}" = 0 ] ||
		lab_die "missing tools: ${missing[*]} — run infra/lab/install-deps.sh (apt-get)"
}
need ip tcpdump timeout ethtool
for s in "${WANT[@]}"; do
	# shellcheck disable=SC2086 # a space-separated list of tools
	need ${SCENARIO_NEEDS[$s]}
done

lab_init
[ "${REAP:-0}" = 1 ] && lab_reap_stale
trap 'echo "record.sh: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

# ---------------------------------------------------------------- topology
# pair SUBNET: cli (SUBNET.2) <-> srv (SUBNET.1), one /24 per protocol file;
# each scenarios/<protocol>.sh names its own /24 (see README.md for the list).
pair() {
	SRV_IP=$1.1
	CLI_IP=$1.2
	lab_ns cli
	lab_ns srv
	lab_link cli eth0 "$CLI_IP/24" srv eth0 "$SRV_IP/24"
}

# Servers and clients live in scenarios/<protocol>.sh. Each start_* writes its
# own config under $W (the scenario's work dir inside $LAB_TMP), starts the
# server in the srv namespace in the foreground mode of that server (so
# lab_spawn's pid is the server) and waits for its port. Clients run in the
# cli namespace, IPv4 only, with explicit time bounds (timeout N plus the
# client's own limits).

# ---------------------------------------------------------------- checks
# dump PCAP: text views of the capture, made once and grepped (grep -q on a
# live tcpdump pipe would SIGPIPE it and trip pipefail).
dump() {
	tcpdump -nr "$1" >"$1.txt" 2>/dev/null
	tcpdump -nr "$1" -A >"$1.A" 2>/dev/null
}

# has NAME WHAT STRING: the payload dump contains STRING.
has() {
	grep -qF -- "$3" "$PCAP.A" || lab_die "$1: capture has no $2 (no '$3' in the payloads)"
}

# count FILTER: packets matching a tcpdump filter
count() { tcpdump -nr "$PCAP" "$1" 2>/dev/null | wc -l; }

# atleast NAME WHAT FILTER N
atleast() {
	local n
	n=$(count "$3")
	[ "$n" -ge "$4" ] || lab_die "$1: capture has $n packets of $2 ($3), expected at least $4"
}

# in_scope NAME: nothing but ARP and IPv4 between 198.18.0.0/15 addresses.
in_scope() {
	local n
	n=$(count 'not arp and not (ip and src net 198.18.0.0/15 and dst net 198.18.0.0/15)')
	[ "$n" = 0 ] || lab_die "$1: capture holds $n packets that are not IPv4 inside 198.18.0.0/15"
}

SYN='tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'

# Each scn_* (in scenarios/) gets the output name in $NAME and writes its
# capture to $PCAP.

# ---------------------------------------------------------------- main
summary() { # PCAP
	local f=$1 pk conns
	pk=$(tcpdump -nr "$f" 2>/dev/null | wc -l)
	conns=$(tcpdump -nr "$f" "$SYN" 2>/dev/null | wc -l)
	printf '%-44s %7s bytes %5s packets %3s TCP connections\n' \
		"${f#"$ROOT"/}" "$(stat -c %s "$f")" "$pk" "$conns"
}

DONE=()
for s in "${WANT[@]}"; do
	NAME=$s
	W=$LAB_TMP/${s//\//-}
	mkdir -p "$W"
	chmod 0755 "$W"
	PCAP=$W/capture.pcap
	lab_log "recording $s"
	"scn_${s//[\/-]/_}"
	in_scope "$NAME"
	lab_teardown
	mkdir -p "$OUT/${s%%/*}"
	dest=$OUT/$s.pcap
	cp "$PCAP" "$dest.tmp.$$"
	chmod 0644 "$dest.tmp.$$"
	mv -f "$dest.tmp.$$" "$dest"
	DONE+=("$dest")
	lab_log "wrote $dest"
done

echo "recorded ${#DONE[@]} capture(s):"
for f in "${DONE[@]}"; do summary "$f"; done
