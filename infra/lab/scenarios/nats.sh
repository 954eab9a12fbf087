# shellcheck shell=bash
# infra/lab/scenarios/nats.sh — NATS client protocol: nats-server + a spec
# client (no NATS client program is packaged in Debian 12): the client reads
# the server's INFO, sends CONNECT, SUB, PUB and PING (NATS client protocol
# reference: INFO/CONNECT/PUB/SUB/MSG/PING/PONG, CRLF-terminated), reads its
# own message back and PONG. 198.18.42.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario nats/nats-server-spec-client-pubsub nats-server

start_nats() { # IP
	local ip=$1 d=$W/nats
	mkdir -p "$d"
	# every setting on the command line: no config file, no JetStream store
	lab_spawn srv nats-server -a "$ip" -p 4222 -n l7lab -l "$d/nats.log" -P "$d/nats.pid"
	lab_wait_port cli "$ip" 4222 10 || { cat "$d/nats.log" >&2; lab_die "nats-server did not start"; }
}

# c_nats IP: the spec client (bash /dev/tcp), all of it bounded by timeout.
c_nats() {
	# shellcheck disable=SC2016 # $1 is expanded by the inner bash
	lab_exec cli timeout 10 bash -c 'exec 3<>"/dev/tcp/$1/4222" || exit 1
		IFS= read -r -t 5 info <&3 || exit 1
		printf "%s\n" "$info"
		printf "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"l7lab\",\"lang\":\"bash\",\"version\":\"1.0\",\"protocol\":1}\r\nSUB lab.greeting 1\r\nPUB lab.greeting 25\r\nhello from the l7mesh lab\r\nPING\r\n" >&3
		while IFS= read -r -t 5 line <&3; do
			printf "%s\n" "$line"
			case $line in PONG*) exit 0 ;; esac
		done
		exit 1' bash "$1" >"$W/nats.out" 2>&1 || { cat "$W/nats.out" >&2; lab_die "NATS exchange failed"; }
	grep -q 'hello from the l7mesh lab' "$W/nats.out" || { cat "$W/nats.out" >&2; lab_die "NATS message not delivered"; }
}

scn_nats_nats_server_spec_client_pubsub() {
	pair 198.18.42
	start_nats "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	c_nats "$SRV_IP"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "server INFO" 'INFO {'
	has "$NAME" "CONNECT" 'CONNECT {'
	has "$NAME" "delivered MSG" 'MSG lab.greeting 1 25'
}
