# shellcheck shell=bash
# infra/lab/scenarios/stomp.sh — STOMP 1.2: RabbitMQ with its STOMP plugin
# (start_rabbitmq in amqp.sh: own node, config, data and logs in the scratch
# dir) + a spec client (bash /dev/tcp; no STOMP client program is packaged):
# CONNECT, SEND to a queue, SUBSCRIBE, the MESSAGE delivered, DISCONNECT
# with a receipt, 198.18.62.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario stomp/rabbitmq-spec-client-send-subscribe /usr/lib/rabbitmq/bin/rabbitmq-server

# c_stomp IP: frames are a command line, header lines, an empty line, the
# body and a NUL; each answer is read up to its NUL.
c_stomp() {
	# shellcheck disable=SC2016 # $1 is expanded by the inner bash
	lab_exec cli timeout 15 bash -c 'exec 3<>"/dev/tcp/$1/61613" || exit 1
		frame() { IFS= read -r -d "" -t 5 f <&3 || exit 1; printf "%s\n--\n" "$f"; }
		printf "CONNECT\naccept-version:1.2\nhost:/\nlogin:lab\npasscode:labsecret\n\n\0" >&3
		frame
		printf "SEND\ndestination:/queue/lab\ncontent-type:text/plain\n\nhello from the l7mesh lab\0" >&3
		printf "SUBSCRIBE\nid:0\ndestination:/queue/lab\nack:auto\n\n\0" >&3
		frame
		printf "DISCONNECT\nreceipt:77\n\n\0" >&3
		frame' bash "$1" >"$W/stomp.out" 2>&1 || { cat "$W/stomp.out" >&2; lab_die "STOMP exchange failed"; }
	grep -q 'hello from the l7mesh lab' "$W/stomp.out" || { cat "$W/stomp.out" >&2; lab_die "no MESSAGE delivered"; }
}

scn_stomp_rabbitmq_spec_client_send_subscribe() {
	pair 198.18.62
	start_rabbitmq "$SRV_IP" stomp 61613
	lab_capture_start srv eth0 "$PCAP"
	c_stomp "$SRV_IP"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "CONNECT frame" 'accept-version:1.2'
	has "$NAME" "CONNECTED frame" 'CONNECTED'
	has "$NAME" "MESSAGE frame" 'MESSAGE'
}
