# shellcheck shell=bash
# infra/lab/scenarios/coap.sh — CoAP (RFC 7252) over UDP 5683: libcoap's
# example server coap-server + coap-client (resource discovery GET
# /.well-known/core, GET /time, PUT /example_data), 198.18.55.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario coap/libcoap-server-client coap-server-notls coap-client-notls

start_coap_server() { # IP
	local ip=$1 d=$W/coap
	mkdir -p "$d"
	lab_spawn srv coap-server-notls -A "$ip" -p 5683 -v 4 >"$d/server.log" 2>&1
	lab_wait_udp srv "$ip" 5683 5 || { cat "$d/server.log" >&2; lab_die "coap-server did not bind udp/5683"; }
}

scn_coap_libcoap_server_client() {
	pair 198.18.55
	start_coap_server "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	local c=(lab_exec cli timeout 10 coap-client-notls -B 5)
	"${c[@]}" -m get "coap://$SRV_IP/.well-known/core" >"$W/core.out" 2>&1 || { cat "$W/core.out" >&2; lab_die "CoAP discovery failed"; }
	grep -q '</time>' "$W/core.out" || { cat "$W/core.out" >&2; lab_die "no /time in /.well-known/core"; }
	"${c[@]}" -m get "coap://$SRV_IP/time" >"$W/time.out" 2>&1 || { cat "$W/time.out" >&2; lab_die "CoAP GET /time failed"; }
	"${c[@]}" -m put -e 'hello from the l7mesh lab' "coap://$SRV_IP/example_data" >"$W/put.out" 2>&1 ||
		{ cat "$W/put.out" >&2; lab_die "CoAP PUT failed"; }
	"${c[@]}" -m get "coap://$SRV_IP/example_data" >"$W/get.out" 2>&1 || { cat "$W/get.out" >&2; lab_die "CoAP GET failed"; }
	grep -q 'hello from the l7mesh lab' "$W/get.out" || { cat "$W/get.out" >&2; lab_die "PUT data not returned"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "discovery request" 'well-known'
	atleast "$NAME" "CoAP datagrams on udp/5683" 'udp port 5683' 8
}
