# shellcheck shell=bash
# infra/lab/scenarios/gearman.sh — Gearman binary protocol: gearmand + the
# gearman tool as a worker (CAN_DO, GRAB_JOB, WORK_COMPLETE) and as a
# client (SUBMIT_JOB, WORK_COMPLETE), 198.18.52.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario gearman/gearmand-gearman-job gearmand gearman

start_gearmand() { # IP
	local ip=$1 d=$W/gearmand
	mkdir -p "$d"
	chmod 0777 "$d"
	# in-memory queue, no pid file or log outside the scratch dir
	lab_spawn srv gearmand -L "$ip" -p 4730 -q builtin -l "$d/gearmand.log" -P "$d/gearmand.pid" \
		-u nobody -t 1 >"$d/stdout.log" 2>&1
	lab_wait_port cli "$ip" 4730 10 || { cat "$d/stdout.log" "$d/gearmand.log" >&2; lab_die "gearmand did not start"; }
}

scn_gearman_gearmand_gearman_job() {
	pair 198.18.52
	start_gearmand "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# a worker for one job of function "rev", which runs rev(1)
	lab_exec cli timeout 10 gearman -h "$SRV_IP" -p 4730 -w -c 1 -f rev -- rev >"$W/worker.out" 2>&1 &
	local wpid=$!
	sleep 0.5
	printf 'bal hsem7l eht morf olleh' | lab_exec cli timeout 10 gearman -h "$SRV_IP" -p 4730 -f rev >"$W/client.out" 2>&1 ||
		{ cat "$W/client.out" >&2; lab_die "gearman client failed"; }
	wait "$wpid" || true
	grep -q 'hello from the l7mesh lab' "$W/client.out" || { cat "$W/client.out" "$W/worker.out" >&2; lab_die "job result missing"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "request magic" 'REQ'
	has "$NAME" "response magic" 'RES'
	atleast "$NAME" "TCP connection openings" "$SYN" 2
}
