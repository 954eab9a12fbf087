# shellcheck shell=bash
# infra/lab/scenarios/beanstalkd.sh — beanstalkd work-queue protocol:
# beanstalkd + a spec client (no client program is packaged in Debian 12):
# use, put, watch, reserve-with-timeout, delete, quit, as in beanstalkd's
# doc/protocol.txt. 198.18.46.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario beanstalkd/beanstalkd-spec-client-put-reserve beanstalkd

start_beanstalkd() { # IP
	local ip=$1 d=$W/beanstalkd
	mkdir -p "$d"
	# no binlog (-b not given): nothing written anywhere
	lab_spawn srv beanstalkd -l "$ip" -p 11300 -u nobody >"$d/beanstalkd.log" 2>&1
	lab_wait_port cli "$ip" 11300 10 || { cat "$d/beanstalkd.log" >&2; lab_die "beanstalkd did not start"; }
}

# c_beanstalk IP: one command at a time, each answer read before the next.
c_beanstalk() {
	# shellcheck disable=SC2016 # $1 is expanded by the inner bash
	lab_exec cli timeout 10 bash -c 'exec 3<>"/dev/tcp/$1/11300" || exit 1
		cmd() { printf "%s\r\n" "$@" >&3; IFS= read -r -t 5 line <&3 || exit 1; printf "%s\n" "$line"; }
		cmd "use lab"
		cmd "put 0 0 60 25" "hello from the l7mesh lab"
		cmd "watch lab"
		cmd "reserve-with-timeout 2"
		IFS= read -r -t 5 body <&3 && printf "%s\n" "$body"
		set -- $line
		cmd "delete $2"
		printf "quit\r\n" >&3' bash "$1" >"$W/beanstalk.out" 2>&1 || { cat "$W/beanstalk.out" >&2; lab_die "beanstalk exchange failed"; }
	grep -q '^DELETED' "$W/beanstalk.out" || { cat "$W/beanstalk.out" >&2; lab_die "job not reserved and deleted"; }
}

scn_beanstalkd_beanstalkd_spec_client_put_reserve() {
	pair 198.18.46
	start_beanstalkd "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	c_beanstalk "$SRV_IP"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "put command" 'put 0 0 60 25'
	has "$NAME" "INSERTED reply" 'INSERTED'
	has "$NAME" "reserved job" 'hello from the l7mesh lab'
}
