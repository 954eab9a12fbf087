# shellcheck shell=bash
# infra/lab/scenarios/dtls.sh — DTLS 1.2 over UDP: openssl s_server -dtls1_2
# + openssl s_client -dtls1_2 (ClientHello, HelloVerifyRequest cookie
# exchange, full handshake up to both Finished, close). 198.18.43.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario dtls/openssl-s_client-dtls12 openssl

start_dtls_server() { # IP
	local ip=$1 d=$W/dtls
	lab_cert "$d"
	lab_spawn srv openssl s_server -dtls1_2 -accept "$ip:4444" -cert "$d/cert.pem" -key "$d/key.pem" -quiet \
		>"$d/server.log" 2>&1
	# UDP: no connect probe; wait until the socket is bound
	lab_wait_udp srv "$ip" 4444 5 || { cat "$d/server.log" >&2; lab_die "openssl s_server -dtls1_2 did not bind"; }
}

scn_dtls_openssl_s_client_dtls12() {
	pair 198.18.43
	start_dtls_server "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	{ echo 'hello from the l7mesh lab'; sleep 1; } |
		lab_exec cli timeout 10 openssl s_client -dtls1_2 -connect "$SRV_IP:4444" -servername lab.example.test \
			-quiet >"$W/client.out" 2>&1 || true
	lab_capture_stop
	dump "$PCAP"
	atleast "$NAME" "DTLS packets on udp/4444" 'udp port 4444' 6
	# record types: 0x16 handshake (two ClientHellos, before and after the
	# cookie), 0x14 the server's ChangeCipherSpec (the client's follows its
	# ClientKeyExchange inside one datagram), so the handshake completed
	atleast "$NAME" "ClientHello records" 'udp dst port 4444 and udp[8] = 0x16 and udp[9] = 0xfe' 2
	atleast "$NAME" "server ChangeCipherSpec" 'udp src port 4444 and udp[8] = 0x14 and udp[9] = 0xfe' 1
}
