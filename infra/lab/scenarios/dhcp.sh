# shellcheck shell=bash
# infra/lab/scenarios/dhcp.sh — DHCP: dnsmasq as the server, dhcping as the
# client, 198.18.69.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.
#
# A client that has no address yet broadcasts from 0.0.0.0 to
# 255.255.255.255, which the lab's address rule (198.18.0.0/15 only) keeps
# out. dhcping speaks as a client that already holds its address (RFC 2131
# 4.3.2 RENEWING, and 4.3.5 DHCPINFORM): unicast from 198.18.69.2:68 to
# the server's port 67, answered by unicast.

scenario dhcp/dnsmasq-dhcping-request-inform dnsmasq dhcping

start_dnsmasq_dhcp() { # IP
	local ip=$1 d=$W/dnsmasq-dhcp
	mkdir -p "$d"
	chmod 0777 "$d"
	# --port=0: no DNS at all; --conf-file=/dev/null: ignore /etc/dnsmasq.conf
	# and /etc/dnsmasq.d; leases and logs in the scratch dir only.
	lab_spawn srv dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --no-resolv --no-hosts \
		--interface=eth0 --bind-interfaces --dhcp-authoritative \
		--dhcp-range="${ip%.*}.2,${ip%.*}.9,255.255.255.0,1h" --dhcp-host=02:00:c6:12:45:02,"${ip%.*}.2" --dhcp-option=option:router,"$ip" \
		--dhcp-leasefile="$d/leases" --pid-file="$d/dnsmasq.pid" \
		--log-dhcp --log-facility="$d/dnsmasq.log" >"$d/stdout.log" 2>&1
	lab_wait_udp srv '*' 67 10 || { cat "$d/stdout.log" "$d/dnsmasq.log" >&2; lab_die "dnsmasq (DHCP) did not start"; }
}

c_dhcping() { # SERVER CLIENT-IP MAC [OPTION...]
	lab_exec cli timeout 10 dhcping -v -t 3 -s "$1" -c "$2" -h "$3" "${@:4}" >>"$W/dhcping.out" 2>&1 ||
		{ cat "$W/dhcping.out" >&2; lab_die "dhcping ${*:4} got no answer from $1"; }
}

scn_dhcp_dnsmasq_dhcping_request_inform() {
	pair 198.18.69
	start_dnsmasq_dhcp "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# the lab's MAC scheme: 02:00 + the IPv4 address in hex
	c_dhcping "$SRV_IP" "$CLI_IP" 02:00:c6:12:45:02
	c_dhcping "$SRV_IP" "$CLI_IP" 02:00:c6:12:45:02 -i
	lab_capture_stop
	dump "$PCAP"
	atleast "$NAME" "DHCP requests to the server" 'udp dst port 67' 2
	atleast "$NAME" "DHCP answers" 'udp src port 67' 2
	grep -q 'DHCPACK' "$W/dnsmasq-dhcp/dnsmasq.log" || lab_die "$NAME: dnsmasq logged no DHCPACK"
}
