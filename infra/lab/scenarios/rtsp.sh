# shellcheck shell=bash
# infra/lab/scenarios/rtsp.sh — RTSP 1.0 (RFC 2326, TCP 554): GStreamer's
# RTSP server library (gst-rtsp-server, through Debian's python3-gi) serving
# a live PCMU audio test stream at /lab + two clients, ffmpeg and
# GStreamer's rtspsrc (gst-launch-1.0), 198.18.71.0/24. The few lines of
# Python only make the server object, its address and its one mount point;
# the protocol is gst-rtsp-server's.
# Both clients ask for RTP interleaved in the RTSP connection (ffmpeg
# -rtsp_transport tcp, rtspsrc protocols=tcp): over UDP, RTP and RTCP would
# be flows of their own on negotiated ports, and every flow of a protocol's
# capture must be that protocol.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario rtsp/gstreamer-ffmpeg-rtspsrc-play /usr/bin/python3 ffmpeg gst-launch-1.0

start_gst_rtsp_server() { # IP
	local ip=$1 d=$W/gst-rtsp-server
	mkdir -p "$d"
	# Debian's python3 (python3-gi, gir1.2-gst-rtsp-server-1.0)
	lab_spawn srv env -i PATH=/usr/bin:/bin HOME="$d" /usr/bin/python3 -c 'import sys, gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address(sys.argv[1])
server.set_service("554")
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch("( audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay0 pt=0 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/lab", factory)
server.attach(None)
GLib.MainLoop().run()' "$ip" >"$d/server.log" 2>&1
	lab_wait_port cli "$ip" 554 10 || { cat "$d/server.log" >&2; lab_die "gst-rtsp-server did not start"; }
	sleep 0.5
}

scn_rtsp_gstreamer_ffmpeg_rtspsrc_play() {
	pair 198.18.71
	start_gst_rtsp_server "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# ffmpeg: OPTIONS, DESCRIBE, SETUP, PLAY, one second of audio, TEARDOWN
	lab_exec cli env -i PATH=/usr/bin:/bin HOME="$W" timeout 20 ffmpeg -nostdin -hide_banner -loglevel info \
		-rtsp_transport tcp -timeout 10000000 -i "rtsp://$SRV_IP/lab" -t 1 -f null - >"$W/ffmpeg.out" 2>&1 ||
		{ cat "$W/ffmpeg.out" >&2; lab_die "ffmpeg could not play rtsp://$SRV_IP/lab"; }
	grep -q 'Audio: pcm_mulaw' "$W/ffmpeg.out" || { cat "$W/ffmpeg.out" >&2; lab_die "ffmpeg found no PCMU stream"; }
	# GStreamer's rtspsrc: the same session, five buffers, then end of stream
	lab_exec cli env -i PATH=/usr/bin:/bin HOME="$W" timeout 20 gst-launch-1.0 rtspsrc location="rtsp://$SRV_IP/lab" \
		protocols=tcp tcp-timeout=10000000 ! fakesink num-buffers=5 >"$W/gst.out" 2>&1 ||
		{ cat "$W/gst.out" >&2; lab_die "gst-launch-1.0 could not play rtsp://$SRV_IP/lab"; }
	grep -q 'Got EOS' "$W/gst.out" || { cat "$W/gst.out" >&2; lab_die "rtspsrc did not reach the end of its stream"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "DESCRIBE request" "DESCRIBE rtsp://$SRV_IP"
	has "$NAME" "status line" 'RTSP/1.0 200 OK'
	has "$NAME" "interleaved transport" 'RTP/AVP/TCP;unicast;interleaved='
	has "$NAME" "PLAY request" "PLAY rtsp://$SRV_IP"
	atleast "$NAME" "TCP connection openings" "$SYN" 2
	atleast "$NAME" "packets on the RTSP port" 'tcp port 554' 20
}
