# shellcheck shell=bash
# infra/lab/scenarios/tftp.sh — TFTP: tftpd-hpa + tftp-hpa, 198.18.22.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario tftp/tftpd-hpa-tftp-get in.tftpd tftp

start_tftpd() { # IP
	local ip=$1 d=$W/tftpd
	mkdir -p "$d/root"
	printf 'Hello from the l7mesh capture lab, over TFTP.\n' >"$d/root/hello.txt"
	# a file of 1200 bytes: three DATA blocks of 512, 512 and 176 bytes
	head -c 1200 /dev/zero | tr '\0' 'x' >"$d/root/three-blocks.bin"
	chmod -R a+rX "$d/root"
	# -L foreground, -4 IPv4, -s chroot to the served dir, -u nobody
	lab_spawn srv in.tftpd -L -4 -a "$ip:69" -s -u nobody -v "$d/root" >"$d/tftpd.log" 2>&1
	lab_wait_udp srv "$ip" 69 5 || { cat "$d/tftpd.log" >&2; lab_die "in.tftpd did not start"; }
}

scn_tftp_tftpd_hpa_tftp_get() {
	pair 198.18.22
	start_tftpd "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	mkdir -p "$W/dl"
	( cd "$W/dl" && lab_exec cli timeout 10 tftp -4 "$SRV_IP" -m octet -c get hello.txt ) ||
		lab_die "tftp get hello.txt failed"
	( cd "$W/dl" && lab_exec cli timeout 10 tftp -4 "$SRV_IP" -m netascii -c get three-blocks.bin ) ||
		lab_die "tftp get three-blocks.bin failed"
	cmp -s "$W/dl/hello.txt" "$W/tftpd/root/hello.txt" || lab_die "tftp did not fetch hello.txt intact"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "read request" 'hello.txt'
	atleast "$NAME" "TFTP requests to port 69" 'udp dst port 69' 2
}
