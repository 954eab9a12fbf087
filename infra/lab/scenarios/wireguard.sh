# shellcheck shell=bash
# infra/lab/scenarios/wireguard.sh — WireGuard: wireguard-go (userspace, a tun
# device; the kernel module may be missing) configured with wg in both
# namespaces, tunnel addresses 198.19.36.1-2, underlay 198.18.36.0/24; a
# ping through the tunnel triggers the handshake (initiation, response)
# and a few transport packets.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario wireguard/wireguard-go-ping wireguard-go wg ping

# wg_node_script: run inside one namespace by sh -c. wireguard-go keeps its
# control socket in /run/wireguard: a private tmpfs on /run inside the mount
# namespace `ip netns exec` made keeps the host's /run untouched, and the
# same shell configures the device (wg) while wireguard-go runs. Arguments:
# KEYFILE TUNNEL-ADDR PEER-PUBKEY PEER-ALLOWED LISTEN-PORT|- ENDPOINT|- PING-TARGET|-
# shellcheck disable=SC2016 # expanded by the inner sh
WG_NODE_SCRIPT='
set -e
mount -t tmpfs -o mode=0755,size=64k l7lab-run /run
mkdir -p /run/wireguard
WG_PROCESS_FOREGROUND=1 wireguard-go wg0 &
wgpid=$!
i=0
while [ ! -S /run/wireguard/wg0.sock ]; do
	i=$((i + 1)); [ $i -lt 50 ] || { kill $wgpid; exit 1; }
	sleep 0.1
done
wg set wg0 private-key "$1" peer "$3" allowed-ips "$4"
[ "$5" = - ] || wg set wg0 listen-port "$5"
[ "$6" = - ] || wg set wg0 peer "$3" endpoint "$6"
ip addr add "$2" dev wg0
ip link set wg0 up
if [ "$7" = - ]; then
	wait $wgpid
else
	rc=0
	ping -c 3 -i 0.2 -W 2 "$7" || rc=$?
	kill $wgpid
	wait $wgpid || true
	exit $rc
fi
'

scn_wireguard_wireguard_go_ping() {
	pair 198.18.36
	local d=$W/wg
	mkdir -p "$d"
	(umask 077; wg genkey >"$d/srv.key"; wg genkey >"$d/cli.key")
	wg pubkey <"$d/srv.key" >"$d/srv.pub"
	wg pubkey <"$d/cli.key" >"$d/cli.pub"
	_lab_check_addr 198.19.36.1/24
	_lab_check_addr 198.19.36.2/24
	lab_spawn srv sh -c "$WG_NODE_SCRIPT" sh "$d/srv.key" 198.19.36.1/24 "$(cat "$d/cli.pub")" \
		198.19.36.2/32 51820 - - >"$d/srv.log" 2>&1
	lab_wait_udp srv '*' 51820 5 || { cat "$d/srv.log" >&2; lab_die "wireguard-go did not bind udp/51820"; }
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 20 sh -c "$WG_NODE_SCRIPT" sh "$d/cli.key" 198.19.36.2/24 "$(cat "$d/srv.pub")" \
		198.19.36.1/32 - "$SRV_IP:51820" 198.19.36.1 >"$d/cli.log" 2>&1 ||
		{ cat "$d/cli.log" "$d/srv.log" >&2; lab_die "no ping through the WireGuard tunnel"; }
	lab_capture_stop
	dump "$PCAP"
	# handshake initiation (148 bytes) and response (92 bytes) on udp/51820
	atleast "$NAME" "handshake initiation" 'udp dst port 51820 and udp[8] = 1 and udp[4:2] = 156' 1
	atleast "$NAME" "handshake response" 'udp src port 51820 and udp[8] = 2 and udp[4:2] = 100' 1
}
