# shellcheck shell=bash
# infra/lab/scenarios/dns.sh — DNS: dnsmasq + dig
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

start_dnsmasq() { # IP
	local ip=$1 d=$W/dnsmasq
	mkdir -p "$d"
	# --conf-file=/dev/null: ignore /etc/dnsmasq.conf and /etc/dnsmasq.d;
	# --no-resolv/--no-hosts: answer only what --address says, never forward.
	lab_spawn srv dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
		--port=53 --listen-address="$ip" --bind-interfaces \
		--address=/example.test/"$ip" --pid-file="$d/dnsmasq.pid" \
		--log-facility="$d/dnsmasq.log" --log-queries >"$d/stdout.log" 2>&1
	lab_wait_port cli "$ip" 53 10 || { cat "$d/stdout.log" >&2; lab_die "dnsmasq did not start"; }
}

c_dig() { # SERVER NAME [TYPE]
	local ans
	ans=$(lab_exec cli timeout 10 dig -4 +time=2 +tries=1 +short @"$1" "$2" "${3:-A}")
	[ -n "$ans" ] || lab_die "dig got no answer for $2 from $1"
	echo "dig $2 ${3:-A} -> $ans"
}

