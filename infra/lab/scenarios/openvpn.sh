# shellcheck shell=bash
# infra/lab/scenarios/openvpn.sh — OpenVPN in TLS mode over UDP and TCP: two
# openvpn peers (--tls-server / --tls-client) with a throw-away PKI, on a
# "null" device (no tun needed: the tunnel carries nothing, the capture is the
# control channel's TLS handshake and a few pings), 198.18.35.0/24.
# Static-key mode is not recorded: its packets carry no cleartext header at
# all, so no pattern can name them.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario openvpn/openvpn-tls-udp openvpn openssl
scenario openvpn/openvpn-tls-tcp openvpn openssl

ovpn_pki() { # DIR: CA, server and client certificates (EC P-256)
	local d=$1 n
	[ -f "$d/client.crt" ] && return 0
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
		-subj '/CN=l7lab-ca' -keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1 || lab_die "CA failed"
	for n in server client; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=l7lab-$n" \
			-keyout "$d/$n.key" -out "$d/$n.csr" >/dev/null 2>&1 || lab_die "$n key failed"
		# --remote-cert-tls wants keyUsage and extendedKeyUsage
		printf 'keyUsage = digitalSignature, keyAgreement\nextendedKeyUsage = %s\n' \
			"$([ $n = server ] && echo serverAuth || echo clientAuth)" >"$d/$n.ext"
		openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
			-extfile "$d/$n.ext" -out "$d/$n.crt" >/dev/null 2>&1 || lab_die "$n certificate failed"
	done
	chmod 0600 "$d"/*.key
}

# run_openvpn_pair udp|tcp: server in srv, client in cli, until the client
# reports the tunnel up, then stop the client
run_openvpn_pair() {
	local proto=$1 d=$W/openvpn sproto cproto
	ovpn_pki "$d"
	if [ "$proto" = udp ]; then sproto=udp4 cproto=udp4; else sproto=tcp4-server cproto=tcp4-client; fi
	local common=(--dev null --ca "$d/ca.crt" --dh none --verb 3 --ping 1 --cd "$d"
		--script-security 0 --data-ciphers AES-256-GCM:CHACHA20-POLY1305)
	lab_spawn srv openvpn "${common[@]}" --tls-server --cert "$d/server.crt" --key "$d/server.key" \
		--proto "$sproto" --local "$SRV_IP" --lport 1194 --float --log "$d/server.log"
	lab_wait_file "$d/server.log" 'link local|Listening for incoming' 10 ||
		lab_die "openvpn server did not start"
	sleep 0.3
	lab_capture_start srv eth0 "$PCAP"
	lab_spawn cli timeout 20 openvpn "${common[@]}" --tls-client --cert "$d/client.crt" --key "$d/client.key" \
		--remote-cert-tls server --proto "$cproto" --remote "$SRV_IP" 1194 --nobind \
		--connect-timeout 5 --log "$d/client.log"
	local client=$LAB_LAST_PID
	lab_wait_file "$d/client.log" 'Initialization Sequence Completed' 15 ||
		{ cat "$d/client.log" >&2; lab_die "openvpn client did not complete the handshake"; }
	sleep 1
	lab_stop "$client" TERM 5 || true
	lab_capture_stop
	dump "$PCAP"
}

scn_openvpn_openvpn_tls_udp() {
	pair 198.18.35
	run_openvpn_pair udp
	atleast "$NAME" "OpenVPN over UDP" 'udp port 1194' 10
}

scn_openvpn_openvpn_tls_tcp() {
	pair 198.18.35
	run_openvpn_pair tcp
	atleast "$NAME" "OpenVPN over TCP" 'tcp port 1194' 10
}
