# shellcheck shell=bash
# infra/lab/scenarios/vnc.sh — VNC (RFB 3.8): TigerVNC's Xvnc + vncsnapshot,
# 198.18.38.0/24. Also defines start_xvnc, which x11.sh uses.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario vnc/tigervnc-vncsnapshot Xvnc vncsnapshot

# start_xvnc IP PORT XVNC-ARG...: Xvnc as display :0, RFB on IP:5900 with no
# authentication (SecurityTypes None: the namespace is reachable only from
# the lab), a 320x200 desktop "l7mesh-lab", plus the XVNC-ARGs; waits for
# IP:PORT.
start_xvnc() {
	local ip=$1 port=$2 d=$W/xvnc
	shift 2
	mkdir -p "$d/tmp"
	chmod 1777 "$d/tmp"
	# An X server keeps its lock file and socket in /tmp: bind-mount a
	# private dir over /tmp inside the mount namespace `ip netns exec` made
	# for this process, so the host's /tmp is untouched.
	# shellcheck disable=SC2016 # $1, $2 and $@ are expanded by the inner sh
	lab_spawn srv sh -c 'mount --bind "$1" /tmp && ip=$2 && shift 2 &&
		exec Xvnc :0 -rfbport 5900 -interface "$ip" -SecurityTypes None -geometry 320x200 -depth 24 \
		-desktop l7mesh-lab "$@"' sh "$d/tmp" "$ip" "$@" >"$d/xvnc.log" 2>&1
	lab_wait_port cli "$ip" "$port" 15 || { cat "$d/xvnc.log" >&2; lab_die "Xvnc did not listen on $port"; }
}

scn_vnc_tigervnc_vncsnapshot() {
	pair 198.18.38
	start_xvnc "$SRV_IP" 5900 -nolisten tcp -nolisten unix -auth /dev/null
	lab_capture_start srv eth0 "$PCAP"
	# version and security handshake, ClientInit/ServerInit, SetPixelFormat,
	# SetEncodings and framebuffer update requests. The X display is empty
	# (no client draws on it), so vncsnapshot gets no pixels and exits
	# non-zero: the session is what we want, checked below.
	lab_exec cli timeout 15 vncsnapshot -allowblank "$SRV_IP:0" "$W/snapshot.jpg" \
		>"$W/vncsnapshot.out" 2>&1 || true
	grep -q 'Desktop name "l7mesh-lab"' "$W/vncsnapshot.out" ||
		{ cat "$W/vncsnapshot.out" >&2; lab_die "vncsnapshot did not reach ServerInit"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "RFB version" 'RFB 003.008'
	has "$NAME" "desktop name" 'l7mesh-lab'
}
