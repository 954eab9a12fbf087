# shellcheck shell=bash
# infra/lab/scenarios/memcached.sh — memcached text protocol: memcached +
# libmemcached-tools (memccp, memccat), 198.18.28.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario memcached/memcached-memccp-memccat memcached memccp memccat

start_memcached() { # IP
	local ip=$1 d=$W/memcached
	mkdir -p "$d"
	# TCP only (-U 0), 16 MB, as nobody
	lab_spawn srv memcached -l "$ip" -p 11211 -U 0 -m 16 -u nobody -vv >"$d/memcached.log" 2>&1
	lab_wait_port cli "$ip" 11211 10 || { cat "$d/memcached.log" >&2; lab_die "memcached did not start"; }
}

scn_memcached_memcached_memccp_memccat() {
	pair 198.18.28
	start_memcached "$SRV_IP"
	printf 'hello from the l7mesh lab\n' >"$W/greeting"
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 10 memccp --servers="$SRV_IP:11211" "$W/greeting" >"$W/memccp.out" 2>&1 ||
		{ cat "$W/memccp.out" >&2; lab_die "memccp failed"; }
	lab_exec cli timeout 10 memccat --servers="$SRV_IP:11211" greeting >"$W/memccat.out" 2>&1
	grep -q 'hello from the l7mesh lab' "$W/memccat.out" || { cat "$W/memccat.out" >&2; lab_die "memccat failed"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "storage command" 'set greeting '
	has "$NAME" "retrieval" 'VALUE greeting '
}
