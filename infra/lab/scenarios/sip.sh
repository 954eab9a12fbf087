# shellcheck shell=bash
# infra/lab/scenarios/sip.sh — SIP over UDP: sipp's built-in uas and uac
# scenarios (INVITE, 100/180/200, ACK, BYE, 200), 198.18.31.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario sip/sipp-uac-uas sipp

scn_sip_sipp_uac_uas() {
	pair 198.18.31
	local d=$W/sipp
	mkdir -p "$d"
	# sipp writes logs/screens into its working directory: run it in $d
	# shellcheck disable=SC2016 # $1 and $2 are expanded by the inner sh
	lab_spawn srv sh -c 'cd "$1" && exec sipp -sn uas -i "$2" -p 5060 -nostdin' sh "$d" "$SRV_IP" \
		>"$d/uas.log" 2>&1
	lab_wait_udp srv "$SRV_IP" 5060 5 || { cat "$d/uas.log" >&2; lab_die "sipp uas did not bind udp/5060"; }
	lab_capture_start srv eth0 "$PCAP"
	( cd "$d" && lab_exec cli timeout 20 sipp -sn uac -i "$CLI_IP" -p 5061 -m 1 -l 1 -d 200 \
		-timeout 10s -nostdin "$SRV_IP:5060" >"$d/uac.log" 2>&1 ) ||
		{ cat "$d/uac.log" >&2; lab_die "sipp uac failed"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "INVITE" 'INVITE sip:'
	has "$NAME" "200 OK" 'SIP/2.0 200 OK'
	has "$NAME" "BYE" 'BYE sip:'
}
