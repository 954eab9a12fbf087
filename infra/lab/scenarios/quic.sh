# shellcheck shell=bash
# infra/lab/scenarios/quic.sh — QUIC v1 and v2 (HTTP/3): ngtcp2's example
# server and client (GnuTLS builds, Debian's ngtcp2-server/ngtcp2-client),
# 198.18.68.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.
# lab_cert (a throw-away certificate) is in tls.sh.

scenario quic/ngtcp2-gtlsclient-h3 gtlsserver gtlsclient openssl

start_gtlsserver() { # IP PORT
	local ip=$1 port=$2 d=$W/gtlsserver
	lab_cert "$d"
	mkdir -p "$d/www"
	printf '<!doctype html><title>l7mesh lab over QUIC</title><p>hello over h3</p>\n' >"$d/www/index.html"
	chmod -R a+rX "$d/www"
	# -q: no packet dumps on stdout; -d: serve files from the scratch dir only
	lab_spawn srv gtlsserver -q -d "$d/www" "$ip" "$port" "$d/key.pem" "$d/cert.pem" >"$d/server.log" 2>&1
	lab_wait_udp srv "$ip" "$port" 10 || { cat "$d/server.log" >&2; lab_die "gtlsserver did not start"; }
}

c_gtlsclient() { # IP PORT VERSION NAME
	local out=$W/client-$4
	mkdir -p "$out"
	# --exit-on-all-streams-close: one request, then close; --download: keep the body to check it
	lab_exec cli timeout 15 gtlsclient -q --exit-on-all-streams-close --timeout=5s --handshake-timeout=5s \
		-v "$3" --download="$out" --sni=lab.example.test "$1" "$2" "https://lab.example.test:$2/index.html" \
		>"$out.log" 2>&1 || true
	grep -q 'hello over h3' "$out/index.html" 2>/dev/null || { cat "$out.log" >&2; lab_die "gtlsclient ($3) got no page"; }
}

scn_quic_ngtcp2_gtlsclient_h3() {
	pair 198.18.68
	start_gtlsserver "$SRV_IP" 4433
	lab_capture_start srv eth0 "$PCAP"
	c_gtlsclient "$SRV_IP" 4433 v1 v1
	c_gtlsclient "$SRV_IP" 4433 v2draft v2
	lab_capture_stop
	dump "$PCAP"
	# two connections, each opening with a long-header Initial (first byte 0xc0-0xff)
	atleast "$NAME" "QUIC long-header packets" 'udp port 4433 and udp[8] >= 0xc0' 4
	atleast "$NAME" "client ports" 'udp dst port 4433' 2
}
