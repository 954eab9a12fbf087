# shellcheck shell=bash
# infra/lab/scenarios/redis.sh — Redis (RESP): redis-server + redis-cli,
# 198.18.27.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario redis/redis-cli-setget redis-server redis-cli

start_redis() { # IP
	local ip=$1 d=$W/redis
	mkdir -p "$d"
	# no config file (every setting on the command line), nothing saved
	lab_spawn srv redis-server --bind "$ip" --port 6379 --save '' --appendonly no \
		--dir "$d" --daemonize no --protected-mode no --logfile "$d/redis.log" \
		--pidfile "$d/redis.pid"
	lab_wait_port cli "$ip" 6379 10 || { cat "$d/redis.log" >&2; lab_die "redis-server did not start"; }
}

scn_redis_redis_cli_setget() {
	pair 198.18.27
	start_redis "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	local c=(lab_exec cli timeout 10 redis-cli -h "$SRV_IP" -p 6379)
	"${c[@]}" SET lab:greeting 'hello from the l7mesh lab' >/dev/null
	[ "$("${c[@]}" GET lab:greeting)" = 'hello from the l7mesh lab' ] || lab_die "redis GET failed"
	"${c[@]}" INCR lab:counter >/dev/null
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "SET command" 'SET'
	has "$NAME" "reply" '+OK'
}
