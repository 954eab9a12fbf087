# shellcheck shell=bash
# infra/lab/scenarios/mixed.sh — interleaved flows of several protocols plus pseudo-random noise (the demo capture)
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario mixed/lab-mixed nginx curl wget vsftpd lftp dnsmasq dig socat openssl ssh ssh-keygen /usr/sbin/sshd

# noise FILE BYTES IVHEX: deterministic pseudo-random bytes (AES-CTR keystream
# of a fixed key), so re-recording yields the same payloads; like random data
# they carry no protocol signature.
noise() {
	head -c "$2" /dev/zero |
		openssl enc -aes-128-ctr -nosalt -K 6c376d6573682d6c61622d6e6f697365 -iv "$3" >"$1"
}

start_noise_servers() { # IP  — TCP 9000 and UDP 9001 that answer with noise
	local ip=$1 d=$W/noise
	mkdir -p "$d"
	noise "$d/tcp-req" 300 00000000000000000000000000000001
	noise "$d/tcp-resp" 220 00000000000000000000000000000002
	noise "$d/udp-req1" 180 00000000000000000000000000000003
	noise "$d/udp-req2" 90 00000000000000000000000000000004
	noise "$d/udp-resp" 140 00000000000000000000000000000005
	# TCP: read the 300-byte request, answer 220 bytes, close.
	lab_spawn srv socat -T 5 TCP-LISTEN:9000,bind="$ip",reuseaddr,fork \
		SYSTEM:"head -c 300 >/dev/null; cat $d/tcp-resp" >"$d/tcp.log" 2>&1
	# UDP: one answer datagram per client, then swallow the rest (3 s idle).
	lab_spawn srv socat -T 3 UDP-LISTEN:9001,bind="$ip",reuseaddr,fork \
		SYSTEM:"cat $d/udp-resp; cat >/dev/null" >"$d/udp.log" 2>&1
	lab_wait_port cli "$ip" 9000 10 || lab_die "TCP noise server did not start"
}

c_noise_tcp() { # IP
	lab_exec cli timeout 10 socat -T 5 -t 3 - TCP:"$1":9000 <"$W/noise/tcp-req" >/dev/null
}

c_noise_udp() { # IP — two request datagrams, one answer
	{ cat "$W/noise/udp-req1"; sleep 0.3; cat "$W/noise/udp-req2"; } |
		lab_exec cli timeout 10 socat -T 3 -t 1 - UDP:"$1":9001 >/dev/null
}

scn_mixed_lab_mixed() {
	pair 198.18.3
	start_nginx "$SRV_IP" 80
	start_vsftpd "$SRV_IP" 21
	start_dnsmasq "$SRV_IP"
	start_sshd "$SRV_IP"
	start_noise_servers "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	local bg=()
	c_curl "http://$SRV_IP/index.html"
	c_dig "$SRV_IP" example.test
	# FTP and SSH run in the background so their packets interleave with the
	# HTTP, DNS and noise flows below ("sleep 1" inside lftp stretches it).
	c_lftp "$SRV_IP" 21 true 'sleep 1' &
	bg+=($!)
	sleep 0.2
	c_ssh "$SRV_IP" &
	bg+=($!)
	c_curl "http://$SRV_IP/form" -d 'event=demo&flows=mixed'
	c_noise_tcp "$SRV_IP"
	c_wget "http://$SRV_IP/about.txt"
	c_noise_udp "$SRV_IP"
	c_dig "$SRV_IP" www.example.test
	local p rc=0
	for p in "${bg[@]}"; do wait "$p" || rc=$?; done
	[ "$rc" = 0 ] || lab_die "$NAME: a background client failed (rc=$rc)"
	# two requests on one keep-alive connection
	c_curl "http://$SRV_IP/index.html" -o /dev/null "http://$SRV_IP/about.txt"
	lab_capture_stop
	dump "$PCAP"
	check_http "$NAME"
	check_ftp "$NAME"
	has "$NAME" "SSH banner" 'SSH-2.0-OpenSSH'
	atleast "$NAME" "DNS over UDP" 'udp port 53' 4
	grep -q 'A? example.test' "$PCAP.txt" || lab_die "$NAME: no DNS query for example.test"
	atleast "$NAME" "TCP noise on port 9000" "tcp port 9000 and $SYN" 1
	atleast "$NAME" "UDP noise on port 9001" 'udp port 9001' 3
}

