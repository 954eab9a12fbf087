# shellcheck shell=bash
# infra/lab/scenarios/zmtp.sh — ZMTP 3 (ZeroMQ's wire protocol, RFC 23/ZMTP):
# libzmq through pyzmq on both sides, a REP socket bound in srv and a REQ
# socket in cli (greeting, NULL handshake READY commands, one request and
# one reply), 198.18.59.0/24. The few lines of Python only open sockets;
# the protocol is libzmq's.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario zmtp/libzmq-req-rep /usr/bin/python3

start_zmq_rep() { # IP
	local ip=$1 d=$W/zmq
	mkdir -p "$d"
	# Debian's python3 (python3-zmq), not whatever python3 is first in PATH
	# shellcheck disable=SC2016
	lab_spawn srv /usr/bin/python3 -c 'import sys, zmq
s = zmq.Context().socket(zmq.REP)
s.setsockopt(zmq.LINGER, 0)
s.bind("tcp://%s:5555" % sys.argv[1])
while True:
    m = s.recv()
    s.send(b"reply: " + m)' "$ip" >"$d/rep.log" 2>&1
	lab_wait_port cli "$ip" 5555 10 || { cat "$d/rep.log" >&2; lab_die "REP socket did not bind"; }
}

scn_zmtp_libzmq_req_rep() {
	pair 198.18.59
	start_zmq_rep "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 10 /usr/bin/python3 -c 'import sys, zmq
s = zmq.Context().socket(zmq.REQ)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 5000)
s.connect("tcp://%s:5555" % sys.argv[1])
s.send(b"hello from the l7mesh lab")
print(s.recv().decode())
s.close()' "$SRV_IP" >"$W/req.out" 2>&1 || { cat "$W/req.out" >&2; lab_die "ZeroMQ request failed"; }
	grep -q 'reply: hello from the l7mesh lab' "$W/req.out" || { cat "$W/req.out" >&2; lab_die "no ZeroMQ reply"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "NULL mechanism" 'NULL'
	has "$NAME" "READY command" 'READY'
	has "$NAME" "request" 'hello from the l7mesh lab'
}
