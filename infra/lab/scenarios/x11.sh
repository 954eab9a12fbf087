# shellcheck shell=bash
# infra/lab/scenarios/x11.sh — X11 core protocol over TCP: TigerVNC's Xvnc as
# the X server (listening on TCP 6000, access control off) + xdpyinfo
# (connection setup, QueryExtension and friends), 198.18.44.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario x11/xvnc-xdpyinfo Xvnc xdpyinfo

scn_x11_xvnc_xdpyinfo() {
	pair 198.18.44
	# start_xvnc (in vnc.sh): X11 over TCP on display :0 (port 6000), no unix
	# socket, no access control (-ac): the namespace is reachable only from
	# the lab. The RFB port stays on the lab address too.
	start_xvnc "$SRV_IP" 6000 -listen tcp -nolisten unix -ac -auth /dev/null
	lab_capture_start srv eth0 "$PCAP"
	# env -i: no XAUTHORITY/HOME, so xdpyinfo sends no cookie
	lab_exec cli env -i PATH=/usr/bin:/bin timeout 10 xdpyinfo -display "$SRV_IP:0" >"$W/xdpyinfo.out" 2>&1 ||
		{ cat "$W/xdpyinfo.out" >&2; lab_die "xdpyinfo failed"; }
	grep -q 'version number:    11.0' "$W/xdpyinfo.out" || { cat "$W/xdpyinfo.out" >&2; lab_die "no X11 connection"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "vendor string" 'The X.Org Foundation'
	atleast "$NAME" "X11 packets on tcp/6000" 'tcp port 6000' 6
}
