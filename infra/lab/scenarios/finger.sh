# shellcheck shell=bash
# infra/lab/scenarios/finger.sh — Finger (RFC 1288, TCP 79): BSD in.fingerd
# (an inetd service, under tcpsvd, as nobody) + the finger client (a query
# for the accounts "nobody" and "daemon"), 198.18.67.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario finger/fingerd-finger-user tcpsvd /usr/sbin/in.fingerd finger

scn_finger_fingerd_finger_user() {
	pair 198.18.67
	local d=$W/fingerd
	mkdir -p "$d"
	# -u: no list of logged-in users for an empty query
	lab_spawn srv tcpsvd -v -c 4 -u nobody -l srv.example.test "$SRV_IP" 79 /usr/sbin/in.fingerd -u >"$d/tcpsvd.log" 2>&1
	lab_wait_port cli "$SRV_IP" 79 10 || { cat "$d/tcpsvd.log" >&2; lab_die "tcpsvd/in.fingerd did not start"; }
	sleep 0.5
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 10 finger "nobody@$SRV_IP" >"$W/finger.out" 2>&1 || { cat "$W/finger.out" >&2; lab_die "finger failed"; }
	# finger -l would send "/W ", the name and CRLF in three segments, so
	# the answer only comes at packet 10 (l7's limit): a second account
	lab_exec cli timeout 10 finger "daemon@$SRV_IP" >"$W/finger-daemon.out" 2>&1 || { cat "$W/finger-daemon.out" >&2; lab_die "finger daemon failed"; }
	grep -q 'Login: daemon' "$W/finger-daemon.out" || { cat "$W/finger-daemon.out" >&2; lab_die "no answer for daemon"; }
	grep -q 'Login: nobody' "$W/finger.out" || { cat "$W/finger.out" >&2; lab_die "no answer for nobody"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "answer" 'Login: nobody'
	atleast "$NAME" "TCP connection openings" "$SYN" 2
}
