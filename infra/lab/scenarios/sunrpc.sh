# shellcheck shell=bash
# infra/lab/scenarios/sunrpc.sh — ONC RPC (Sun RPC, RFC 5531) calls to the
# portmapper/rpcbind (program 100000, port 111): rpcbind + rpcinfo (DUMP
# over TCP with version 2, rpcbind version 3/4 dump and GETADDR-style
# queries over UDP), 198.18.63.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario sunrpc/rpcbind-rpcinfo rpcbind rpcinfo

start_rpcbind() { # IP
	local ip=$1 d=$W/rpcbind
	mkdir -p "$d"
	# rpcbind keeps its lock and state files under /run/rpcbind: a private
	# tmpfs on /run inside the mount namespace `ip netns exec` made for it
	# (as for xrdp). -h: UDP on the lab address only (TCP listens on the
	# namespace's addresses, which are lab addresses only).
	# shellcheck disable=SC2016 # $1 is expanded by the inner sh
	lab_spawn srv sh -c 'mount -t tmpfs -o mode=0755,size=64k l7lab-run /run && mkdir -p /run/rpcbind &&
		exec rpcbind -f -h "$1"' sh "$ip" >"$d/rpcbind.log" 2>&1
	lab_wait_port cli "$ip" 111 10 || { cat "$d/rpcbind.log" >&2; lab_die "rpcbind did not start"; }
	sleep 0.5
}

scn_sunrpc_rpcbind_rpcinfo() {
	pair 198.18.63
	start_rpcbind "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# portmapper v2 DUMP (TCP), then a NULL call to each version over UDP
	lab_exec cli timeout 10 rpcinfo -p "$SRV_IP" >"$W/dump.out" 2>&1 || { cat "$W/dump.out" >&2; lab_die "rpcinfo -p failed"; }
	grep -q 'portmapper' "$W/dump.out" || { cat "$W/dump.out" >&2; lab_die "no portmapper in the dump"; }
	lab_exec cli timeout 10 rpcinfo -u "$SRV_IP" portmapper >"$W/udp.out" 2>&1 || { cat "$W/udp.out" >&2; lab_die "rpcinfo -u failed"; }
	grep -q 'version 4 ready and waiting' "$W/udp.out" || { cat "$W/udp.out" >&2; lab_die "no answer from version 4"; }
	lab_capture_stop
	dump "$PCAP"
	atleast "$NAME" "RPC over TCP 111" 'tcp port 111 and tcp[13] & 8 != 0' 2
	atleast "$NAME" "RPC over UDP 111" 'udp port 111' 2
}
