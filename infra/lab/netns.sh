# shellcheck shell=bash
# shellcheck disable=SC2015 # "A && B || lab_die" is meant: die unless A and B hold
# infra/lab/netns.sh — a tiny library for building throw-away test networks
# out of Linux network namespaces. Source it from a bash script that runs as
# root:
#
#     . "$(dirname "$0")/netns.sh"
#     lab_init                                  # tmp dir + cleanup traps
#     lab_ns cli; lab_ns srv                    # two hosts
#     lab_link cli eth0 198.18.1.2/24 srv eth0 198.18.1.1/24
#     lab_spawn srv nginx -c "$LAB_TMP/nginx.conf" -g 'daemon off;'
#     lab_wait_port cli 198.18.1.1 8080 10
#     lab_exec cli curl -s --max-time 5 http://198.18.1.1:8080/
#
# Rules this library enforces (see README.md in this folder for the why):
#   * every address it configures lies in 198.18.0.0/15 (RFC 2544 benchmark
#     range); anything else is refused, so a typo can never make a lab host
#     talk to a real network;
#   * IPv6 is disabled inside every namespace, so nothing (not even link-local
#     router solicitations or MLD reports) leaks into captures, and clients
#     cannot pick an IPv6 path;
#   * namespaces are named "$LAB_PREFIX<name>" with LAB_PREFIX=l7lab-<pid>-, so
#     parallel runs never collide; interface names live *inside* the
#     namespaces (the veth pair is created directly there), so they don't
#     collide either;
#   * everything started through lab_spawn, and every process still living in
#     one of our namespaces, is killed by lab_cleanup, which the traps installed
#     by lab_init run on EXIT, INT and TERM — also after a failure;
#   * every wait is bounded in time.
#
# The namespaces have no link to the host's own network namespace and no
# default route: the only reachable peers are the lab hosts themselves.
#
# Topologies: lab_link connects two namespaces; a router is just a namespace
# with two links plus lab_forwarding, and hosts behind it get lab_route:
#
#     lab_ns cli; lab_ns rtr; lab_ns srv
#     lab_link cli eth0 198.18.10.2/24 rtr eth0 198.18.10.1/24
#     lab_link rtr eth1 198.18.20.1/24 srv eth0 198.18.20.2/24
#     lab_forwarding rtr
#     lab_route cli 198.18.20.0/24 198.18.10.1
#     lab_route srv 198.18.10.0/24 198.18.20.1

# ---------------------------------------------------------------- state
LAB_TMP=${LAB_TMP:-}          # per-run scratch dir (configs, pids, logs)
LAB_PREFIX=${LAB_PREFIX:-}    # namespace name prefix, unique per run
LAB_PIDS=()                   # pids started by lab_spawn
LAB_NSES=()                   # full names of namespaces we created
LAB_LAST_PID=                 # pid of the most recent lab_spawn
LAB_CAPTURE_PID=              # pid of the running tcpdump (lab_capture_start)
LAB_KEEP_TMP=${LAB_KEEP_TMP:-0}   # 1: keep $LAB_TMP after the run (debugging)
_LAB_CLEANED=0

lab_log() { printf '[lab] %s\n' "$*" >&2; }
lab_die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- init
# lab_init: create the scratch dir and install the cleanup traps. Call it once,
# before creating anything, from the top-level shell (not a subshell: the
# arrays that remember what to clean up live in this shell).
lab_init() {
	[ "$(id -u)" = 0 ] || lab_die "must run as root (network namespaces, tcpdump)"
	command -v ip >/dev/null || lab_die "iproute2 (ip) is required"
	LAB_PREFIX="l7lab-$$-"
	# 0755 instead of mktemp's 0700: servers drop privileges (nginx workers run
	# as nobody, vsftpd serves anonymous users as ftp) and must be able to
	# traverse into their document roots below this directory.
	LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/l7lab.XXXXXX") || lab_die "mktemp failed"
	chmod 0755 "$LAB_TMP"
	trap '_lab_on_exit' EXIT
	trap '_lab_on_signal INT 130' INT
	trap '_lab_on_signal TERM 143' TERM
	# Clients such as curl, wget and lftp honour *_proxy variables; inside the
	# lab there is no proxy and we never want traffic aimed elsewhere.
	unset http_proxy https_proxy ftp_proxy all_proxy no_proxy \
		HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY NO_PROXY
}

_lab_on_exit() {
	local rc=$?
	lab_cleanup
	exit "$rc"
}

_lab_on_signal() {
	lab_log "caught SIG$1, cleaning up"
	trap - EXIT
	lab_cleanup
	exit "$2"
}

# ---------------------------------------------------------------- addresses
# _lab_check_addr ADDR[/LEN]: refuse anything outside 198.18.0.0/15, i.e.
# 198.18.x.y and 198.19.x.y. This is the one range the lab may ever use.
_lab_check_addr() {
	local a=${1%/*} o1 o2 o3 o4 rest
	IFS=. read -r o1 o2 o3 o4 rest <<<"$a"
	[ -z "$rest" ] && [ -n "$o4" ] || lab_die "not an IPv4 address: $1"
	local o
	for o in "$o1" "$o2" "$o3" "$o4"; do
		[[ $o =~ ^[0-9]{1,3}$ ]] && [ "$o" -le 255 ] || lab_die "not an IPv4 address: $1"
	done
	[ "$o1" = 198 ] && { [ "$o2" = 18 ] || [ "$o2" = 19 ]; } ||
		lab_die "address $1 is outside 198.18.0.0/15; the lab uses no other range"
	if [[ $1 == */* ]]; then
		local len=${1#*/}
		[[ $len =~ ^[0-9]+$ ]] && [ "$len" -ge 15 ] && [ "$len" -le 32 ] ||
			lab_die "prefix length of $1 must be /15../32"
	fi
}

# ---------------------------------------------------------------- namespaces
# lab_nsname NAME: the real namespace name for a short lab name.
lab_nsname() { printf '%s%s' "$LAB_PREFIX" "$1"; }

# lab_ns NAME: create namespace $LAB_PREFIX$NAME with lo up and IPv6 off.
lab_ns() {
	[ -n "$LAB_PREFIX" ] || lab_die "lab_init was not called"
	local ns
	ns=$(lab_nsname "$1")
	ip netns add "$ns" || lab_die "cannot create namespace $ns"
	LAB_NSES+=("$ns")
	# IPv6 off before any veth appears: "default" applies to new interfaces,
	# "all" to existing ones (lo).
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null ||
		lab_die "cannot disable IPv6 in $ns"
	ip -n "$ns" link set lo up
}

# lab_exec NS CMD...: run CMD in the foreground inside namespace NS. Callers
# bound it themselves (timeout N, curl --max-time, ...).
lab_exec() {
	local ns
	ns=$(lab_nsname "$1")
	shift
	ip netns exec "$ns" "$@"
}

# _lab_mac ADDR: a stable, locally administered MAC derived from the IPv4
# address (02:00:c6:12:01:01 for 198.18.1.1), so captures are reproducible.
_lab_mac() {
	local o1 o2 o3 o4
	IFS=. read -r o1 o2 o3 o4 <<<"${1%/*}"
	printf '02:00:%02x:%02x:%02x:%02x' "$o1" "$o2" "$o3" "$o4"
}

# lab_link NS_A IF_A ADDR_A/LEN NS_B IF_B ADDR_B/LEN: a veth pair whose ends
# are created directly inside the two namespaces (no name clash in the host
# namespace), addressed and up. Checksum offload, TSO/GSO and GRO are turned
# off so that captures show real checksums and MTU-sized segments, like a wire.
lab_link() {
	[ $# -eq 6 ] || lab_die "usage: lab_link NS_A IF_A ADDR_A/LEN NS_B IF_B ADDR_B/LEN"
	local nsa nsb
	nsa=$(lab_nsname "$1")
	nsb=$(lab_nsname "$4")
	_lab_check_addr "$3"
	_lab_check_addr "$6"
	[[ $3 == */* && $6 == */* ]] || lab_die "lab_link addresses need a prefix length (/24, /30)"
	ip link add "$2" netns "$nsa" address "$(_lab_mac "$3")" type veth \
		peer name "$5" netns "$nsb" address "$(_lab_mac "$6")" ||
		lab_die "cannot create veth $1:$2 <-> $4:$5"
	_lab_if_setup "$nsa" "$2" "$3"
	_lab_if_setup "$nsb" "$5" "$6"
}

_lab_if_setup() {
	local ns=$1 ifc=$2 addr=$3
	ip -n "$ns" addr add "$addr" dev "$ifc" || lab_die "cannot add $addr to $ns:$ifc"
	if command -v ethtool >/dev/null; then
		ip netns exec "$ns" ethtool -K "$ifc" tx off rx off tso off gso off gro off \
			>/dev/null 2>&1 || true
	fi
	ip -n "$ns" link set "$ifc" up || lab_die "cannot bring up $ns:$ifc"
}

# lab_route NS DEST VIA: static route in NS (for router topologies). DEST is a
# prefix inside 198.18.0.0/15 — never "default", the lab has no way out.
lab_route() {
	[ $# -eq 3 ] || lab_die "usage: lab_route NS DEST/LEN VIA"
	_lab_check_addr "$2"
	_lab_check_addr "$3"
	ip -n "$(lab_nsname "$1")" route add "$2" via "$3" ||
		lab_die "cannot add route $2 via $3 in $1"
}

# lab_forwarding NS: let NS forward IPv4 between its links (a router).
lab_forwarding() {
	ip netns exec "$(lab_nsname "$1")" sysctl -qw net.ipv4.ip_forward=1 >/dev/null ||
		lab_die "cannot enable forwarding in $1"
}

# ---------------------------------------------------------------- processes
# lab_spawn NS CMD...: start CMD in the background inside NS and remember its
# pid (in LAB_PIDS for cleanup and in LAB_LAST_PID for the caller). `ip netns
# exec` execs the command, so $! is the command's own pid. Redirect the call
# to capture its output: lab_spawn srv nginx ... >"$LAB_TMP/nginx.log" 2>&1
lab_spawn() {
	local ns
	ns=$(lab_nsname "$1")
	shift
	ip netns exec "$ns" "$@" </dev/null &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_alive PID: true while PID runs (and is not a zombie we could reap).
lab_alive() { kill -0 "$1" 2>/dev/null; }

# lab_stop PID [SIGNAL] [TIMEOUT_S]: send SIGNAL (default TERM), wait up to
# TIMEOUT_S (default 5) seconds for the process to exit, then SIGKILL. Returns
# the process's exit status when it is our child, 0 otherwise.
lab_stop() {
	local pid=$1 sig=${2:-TERM} t=${3:-5} i rc=0
	lab_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -s "$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < t * 10; i++)); do
		lab_alive "$pid" || break
		sleep 0.1
	done
	if lab_alive "$pid"; then
		lab_log "pid $pid ignored SIG$sig for ${t}s, killing it"
		kill -s KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# lab_wait_port NS IP PORT [TIMEOUT_S]: poll from inside NS until a TCP
# connect to IP:PORT succeeds; at most TIMEOUT_S seconds (default 10), each
# attempt at most 1 s. Returns non-zero on timeout. Run it before starting a
# capture: each probe is a real (empty) TCP connection.
lab_wait_port() {
	local ns ip=$2 port=$3 t=${4:-10} i
	ns=$(lab_nsname "$1")
	_lab_check_addr "$ip"
	for ((i = 0; i < t * 10; i++)); do
		if ip netns exec "$ns" timeout 1 bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	lab_log "nothing accepts TCP connections on $ip:$port (in $ns) after ${t}s"
	return 1
}

# lab_wait_udp NS IP PORT [TIMEOUT_S]: poll inside NS (ss, no packet sent)
# until a UDP socket is bound to IP:PORT, IP "*" for any address; at most
# TIMEOUT_S seconds (default 10). Returns non-zero on timeout.
lab_wait_udp() {
	local ns ip=$2 port=$3 t=${4:-10} i out
	ns=$(lab_nsname "$1")
	[ "$ip" = '*' ] || _lab_check_addr "$ip"
	for ((i = 0; i < t * 10; i++)); do
		# ss's output is read whole first: grep -q on the pipe could SIGPIPE ss
		out=$(ip netns exec "$ns" ss -Hlun "sport = :$port" 2>/dev/null) || true
		if [ "$ip" = '*' ]; then
			[ -n "$out" ] && return 0
		else
			grep -qF -- " $ip:$port " <<<"$out" && return 0
		fi
		sleep 0.1
	done
	lab_log "no UDP socket bound to $ip:$port (in $ns) after ${t}s"
	return 1
}

# lab_wait_file FILE PATTERN [TIMEOUT_S]: wait until FILE contains PATTERN
# (grep -E), e.g. a server's "listening" log line. Bounded like the rest.
lab_wait_file() {
	local f=$1 pat=$2 t=${3:-10} i
	for ((i = 0; i < t * 10; i++)); do
		grep -Eq -- "$pat" "$f" 2>/dev/null && return 0
		sleep 0.1
	done
	lab_log "timed out after ${t}s waiting for /$pat/ in $f"
	return 1
}

# ---------------------------------------------------------------- capture
# lab_capture_start NS IF FILE: tcpdump on IF inside NS, full snap length,
# packet-buffered and immediate (no batching delay), as root (-Z root: the
# output dir is root's). Waits until tcpdump reports it is listening and the
# pcap header is on disk. Sets LAB_CAPTURE_PID.
lab_capture_start() {
	local ns=$1 ifc=$2 file=$3 log="$3.log"
	# lab_wait_port's probes are real connections; servers that greet (SMTP,
	# SSH, ...) answer and close them a moment later. Let that pass first, so
	# the capture holds only the clients' sessions.
	sleep 0.5
	lab_spawn "$ns" tcpdump -i "$ifc" -n -s 0 -U --immediate-mode -Z root \
		-w "$file" >"$log" 2>&1
	LAB_CAPTURE_PID=$LAB_LAST_PID
	lab_wait_file "$log" 'listening on' 10 || {
		cat "$log" >&2
		lab_die "tcpdump on $ns:$ifc did not start"
	}
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(stat -c %s "$file" 2>/dev/null || echo 0)" -ge 24 ] && break
		sleep 0.1
	done
	# libpcap is attached once "listening on" is printed; a short settle keeps
	# the very first SYN from racing the socket's ring setup.
	sleep 0.2
}

# lab_capture_stop: let in-flight packets (FIN/ACKs) land, then SIGINT so
# tcpdump flushes and closes the file, and wait for it (bounded).
lab_capture_stop() {
	[ -n "${LAB_CAPTURE_PID:-}" ] || return 0
	sleep 0.5
	lab_stop "$LAB_CAPTURE_PID" INT 5 || true
	LAB_CAPTURE_PID=
}

# ---------------------------------------------------------------- cleanup
# lab_teardown: kill what we started, then everything still inside our
# namespaces (children the servers forked), then delete the namespaces (which
# destroys their veths). The scratch dir and traps stay, so a script can build
# the next topology. Never fails (safe under set -e).
lab_teardown() {
	local pid ns i left
	_lab_kill_leaves
	for pid in "${LAB_PIDS[@]}"; do
		kill -s TERM "$pid" 2>/dev/null || true
	done
	for ns in "${LAB_NSES[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -s TERM 2>/dev/null || true
	done
	# up to 3 s for a graceful exit, then SIGKILL whatever is left
	for ((i = 0; i < 30; i++)); do
		left=0
		for pid in "${LAB_PIDS[@]}"; do lab_alive "$pid" && left=1 || true; done
		for ns in "${LAB_NSES[@]}"; do
			[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] || left=1
		done
		[ "$left" = 0 ] && break || true
		sleep 0.1
	done
	for pid in "${LAB_PIDS[@]}"; do
		kill -s KILL "$pid" 2>/dev/null || true
	done
	for ns in "${LAB_NSES[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -s KILL 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	for ns in "${LAB_NSES[@]}"; do
		ip netns del "$ns" 2>/dev/null || lab_log "could not delete namespace $ns"
	done
	LAB_PIDS=()
	LAB_NSES=()
	LAB_CAPTURE_PID=
	return 0
}

# _lab_kill_leaves: before stopping the servers we spawned, stop the
# processes they forked (per-connection vsftpd, sshd and socat children),
# leaves first, so that each one is reaped by its still-living parent instead
# of being orphaned to PID 1 and lingering there as a zombie. At most 5 rounds
# of at most 1 s each; lab_teardown KILLs whatever survives.
_lab_kill_leaves() {
	local round ns pid i left leaves all ppids
	for ((round = 0; round < 5; round++)); do
		all=()
		for ns in "${LAB_NSES[@]}"; do
			for pid in $(ip netns pids "$ns" 2>/dev/null); do
				[[ " ${LAB_PIDS[*]} " == *" $pid "* ]] || all+=("$pid")
			done
		done
		[ "${#all[@]}" = 0 ] && return 0
		ppids=" $(ps -o ppid= -p "$(IFS=,; echo "${all[*]}")" 2>/dev/null | tr -s ' \n' '  ') "
		leaves=()
		for pid in "${all[@]}"; do
			[[ $ppids == *" $pid "* ]] || leaves+=("$pid")
		done
		kill -s TERM "${leaves[@]}" 2>/dev/null || true
		for ((i = 0; i < 10; i++)); do
			left=0
			for pid in "${leaves[@]}"; do [ -e "/proc/$pid" ] && left=1 || true; done
			[ "$left" = 0 ] && break || true
			sleep 0.1
		done
	done
	return 0
}

# lab_cleanup: lab_teardown plus removal of the scratch dir. The EXIT/INT/TERM
# traps call it; idempotent.
lab_cleanup() {
	[ "$_LAB_CLEANED" = 1 ] && return 0
	_LAB_CLEANED=1
	lab_teardown
	if [ -n "$LAB_TMP" ] && [ -d "$LAB_TMP" ]; then
		if [ "$LAB_KEEP_TMP" = 1 ]; then
			lab_log "kept scratch dir $LAB_TMP"
		else
			rm -rf -- "$LAB_TMP" || true
		fi
	fi
	return 0
}

# lab_reap_stale: delete l7lab-<pid>-* namespaces whose creating shell is gone
# (a run killed with SIGKILL cannot clean up after itself). Only touches
# namespaces of this library's naming scheme whose owner pid no longer exists.
lab_reap_stale() {
	local ns owner
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^l7lab-([0-9]+)- ]] || continue
		owner=${BASH_REMATCH[1]}
		[ "$owner" = "$$" ] && continue
		kill -0 "$owner" 2>/dev/null && continue
		lab_log "reaping stale namespace $ns (owner pid $owner is gone)"
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -s KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null || true
	done
}
