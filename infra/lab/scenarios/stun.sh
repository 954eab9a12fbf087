# shellcheck shell=bash
# infra/lab/scenarios/stun.sh — STUN binding requests: coturn's turnserver +
# turnutils_stunclient, 198.18.33.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario stun/coturn-stunclient turnserver turnutils_stunclient

start_turnserver() { # IP
	local ip=$1 d=$W/coturn
	mkdir -p "$d"
	# -n: no config file; STUN only, plain UDP/TCP on 3478, no TLS/DTLS, no CLI
	lab_spawn srv turnserver -n --listening-ip="$ip" --listening-port=3478 --stun-only \
		--no-tls --no-dtls --no-cli --no-software-attribute --log-file="$d/turn.log" \
		--pidfile="$d/turnserver.pid" --simple-log --userdb="$d/turndb" >"$d/stdout.log" 2>&1
	lab_wait_port cli "$ip" 3478 10 || { cat "$d/stdout.log" >&2; lab_die "turnserver did not start"; }
}

scn_stun_coturn_stunclient() {
	pair 198.18.33
	start_turnserver "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 10 turnutils_stunclient -p 3478 "$SRV_IP" >"$W/stunclient.out" 2>&1 ||
		{ cat "$W/stunclient.out" >&2; lab_die "turnutils_stunclient failed"; }
	lab_capture_stop
	dump "$PCAP"
	atleast "$NAME" "STUN over UDP" 'udp port 3478' 2
}
