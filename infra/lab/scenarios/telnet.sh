# shellcheck shell=bash
# infra/lab/scenarios/telnet.sh — Telnet: inetutils telnetd (under tcpsvd) +
# inetutils telnet, 198.18.16.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario telnet/inetutils-telnet-login tcpsvd /usr/sbin/telnetd telnet

start_telnetd() { # IP
	local ip=$1 d=$W/telnetd
	mkdir -p "$d"
	# telnetd is an inetd service (the connection on stdin); tcpsvd from ipsvd
	# plays inetd for one port (-l: its own name, no DNS). -E: no login(1); the session runs /bin/cat,
	# so nothing on the host is reachable through it, it only echoes.
	lab_spawn srv tcpsvd -v -c 4 -l srv.example.test "$ip" 23 /usr/sbin/telnetd -E /bin/cat >"$d/tcpsvd.log" 2>&1
	lab_wait_port cli "$ip" 23 10 || { cat "$d/tcpsvd.log" >&2; lab_die "tcpsvd/telnetd did not start"; }
}

scn_telnet_inetutils_telnet_login() {
	pair 198.18.16
	start_telnetd "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# option negotiation, one line typed, echoed by cat, then the client quits
	{ sleep 1; printf 'hello from the l7mesh lab\r\n'; sleep 1; } |
		lab_exec cli timeout 10 telnet -4 "$SRV_IP" 23 >"$W/telnet.out" 2>&1 || true
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "typed line" 'hello from the l7mesh lab'
	# IAC (0xff) followed by DO/DONT/WILL/WONT in the first server segment
	atleast "$NAME" "telnet option negotiation" 'tcp src port 23 and tcp[((tcp[12] >> 4) * 4)] = 0xff' 1
}
