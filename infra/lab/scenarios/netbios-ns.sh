# shellcheck shell=bash
# infra/lab/scenarios/netbios-ns.sh — NetBIOS Name Service (RFC 1002, UDP
# 137): Samba's nmbd + nmblookup (a unicast name query and a node status
# query), 198.18.48.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario netbios-ns/samba-nmblookup-query nmbd nmblookup

start_nmbd() { # IP
	local ip=$1 d=$W/nmbd
	mkdir -p "$d"
	{
		samba_global "$d" "$ip"
		# a name server only: no browsing, no elections, no announcements
		printf '\t%s\n' 'local master = no' 'domain master = no' 'preferred master = no' 'os level = 0' 'browse list = no' 'lm announce = no' 'wins support = no'
	} >"$d/smb.conf"
	samba_client_conf "$d" "interfaces = ${ip%.1}.2/24" 'bind interfaces only = yes' >"$d/client.conf"
	samba_run "$d" nmbd
	# UDP: wait for the socket on 137, then for the name registrations that
	# nmbd broadcasts at start to be over (they are name service too, but
	# the capture should hold the client's queries)
	lab_wait_udp srv "$ip" 137 10 || { cat "$d/nmbd.log" >&2; lab_die "nmbd did not bind udp/137"; }
	sleep 4
}

scn_netbios_ns_samba_nmblookup_query() {
	pair 198.18.48
	start_nmbd "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	local c=(lab_exec cli timeout 10 nmblookup -s "$W/nmbd/client.conf" -U "$SRV_IP")
	"${c[@]}" L7LABSRV >"$W/query.out" 2>&1 || { cat "$W/query.out" >&2; lab_die "nmblookup name query failed"; }
	grep -q "$SRV_IP L7LABSRV<00>" "$W/query.out" || { cat "$W/query.out" >&2; lab_die "no answer to the name query"; }
	"${c[@]}" -A "$SRV_IP" >"$W/status.out" 2>&1 || { cat "$W/status.out" >&2; lab_die "nmblookup node status failed"; }
	grep -q 'L7LABSRV' "$W/status.out" || { cat "$W/status.out" >&2; lab_die "no node status answer"; }
	lab_capture_stop
	dump "$PCAP"
	atleast "$NAME" "name service packets on udp/137" 'udp port 137' 4
}
