# shellcheck shell=bash
# infra/lab/scenarios/bittorrent.sh — BitTorrent peer wire protocol: aria2c
# seeding in srv, transmission-cli leeching in cli with "prefer unencrypted"
# (aria2c as a leecher always opens with the encrypted MSE handshake, which
# has no cleartext signature), 198.18.34.0/24. DHT, uTP, local peer
# discovery and peer exchange are off; the leecher learns the seeder from a
# "tracker" that is nginx serving a fixed bencoded answer inside the cli
# namespace on the client's own address (so over lo, outside the capture);
# the seeder excludes every tracker. The capture is the peer connection only.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario bittorrent/aria2-transmission-leech aria2c transmission-cli nginx sha1sum

# hex2bin: write the bytes of a hex string (no NULs in our uses)
# shellcheck disable=SC2059 # the format is the byte string itself
hex2bin() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

make_torrent() { # FILE ANNOUNCE-URL OUT
	local f=$1 base len sum
	base=$(basename "$f")
	len=$(stat -c %s "$f")
	[ "$len" -le 16384 ] || lab_die "make_torrent handles one piece only"
	sum=$(sha1sum "$f" | cut -d' ' -f1)
	{
		printf 'd8:announce%d:%s4:infod6:lengthi%de4:name%d:%s12:piece lengthi16384e6:pieces20:' \
			"${#2}" "$2" "$len" "${#base}" "$base"
		hex2bin "$sum"
		printf 'ee'
	} >"$3"
}

scn_bittorrent_aria2_transmission_leech() {
	pair 198.18.34
	local d=$W/bt
	mkdir -p "$d/seed" "$d/dl" "$d/tracker/www"
	{
		printf 'Hello from the l7mesh capture lab, shared over BitTorrent.\n'
		seq 1 400
	} >"$d/seed/lab.txt"
	# a hash with a 00 byte would need a NUL from printf: re-roll the content
	while sha1sum "$d/seed/lab.txt" | cut -c1-40 | grep -Eq '^(..)*00'; do echo . >>"$d/seed/lab.txt"; done
	make_torrent "$d/seed/lab.txt" "http://$CLI_IP:8080/announce" "$d/lab.torrent"
	# tracker answer: interval, and the seeder as one compact peer (IP, port 6881)
	{
		printf 'd8:intervali1800e5:peers6:'
		# shellcheck disable=SC2086 # split the address into its four octets
		hex2bin "$(printf '%02x' ${SRV_IP//./ })1ae1"
		printf 'e'
	} >"$d/tracker/www/announce"
	chmod -R a+rX "$d"
	# the tracker: a fixed answer (nginx_conf_head and nginx_run: in http.sh)
	{
		nginx_conf_head "$d/tracker"
		cat <<EOF
    default_type text/plain;
    server {
        listen $CLI_IP:8080;
        root $d/tracker/www;
        location / { }
    }
}
EOF
	} >"$d/tracker/nginx.conf"
	nginx_run cli "$d/tracker" "$CLI_IP" 8080
	local common=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false
		--disable-ipv6=true --file-allocation=none --summary-interval=0 --console-log-level=warn
		--bt-min-crypto-level=plain --bt-require-crypto=false --no-conf=true)
	# seeder: verify the data, seed regardless of ratio, never announce
	lab_spawn srv aria2c "${common[@]}" --dir="$d/seed" --check-integrity=true --seed-ratio=0.0 \
		--bt-exclude-tracker='*' --listen-port=6881 --log="$d/seed.log" --log-level=info "$d/lab.torrent" \
		>"$d/seed.out" 2>&1
	lab_wait_port cli "$SRV_IP" 6881 15 || { cat "$d/seed.out" >&2; lab_die "aria2c seeder did not listen"; }
	# aria2 closes the port probe's connection a moment later
	sleep 1
	# transmission-cli: its own config dir with DHT, uTP, LPD, PEX and port
	# mapping off; it keeps seeding after the download, so the finish script
	# ends it (SIGINT to its parent, transmission-cli).
	mkdir -p "$d/tr-config"
	cat >"$d/tr-config/settings.json" <<EOF
{ "dht-enabled": false, "utp-enabled": false, "lpd-enabled": false, "pex-enabled": false,
  "port-forwarding-enabled": false, "encryption": 0, "blocklist-enabled": false,
  "bind-address-ipv4": "$CLI_IP", "rpc-enabled": false }
EOF
	# shellcheck disable=SC2016 # $PPID belongs to the script
	printf '#!/bin/sh\nkill -INT $PPID\n' >"$d/finished.sh"
	chmod 0755 "$d/finished.sh"
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 30 env -i PATH=/usr/bin:/bin HOME="$d" transmission-cli -g "$d/tr-config" -et -M \
		-p 51413 -w "$d/dl" -f "$d/finished.sh" "$d/lab.torrent" >"$d/leech.out" 2>&1 || true
	cmp -s "$d/dl/lab.txt" "$d/seed/lab.txt" || { tail -5 "$d/leech.out" >&2; lab_die "the leecher did not get lab.txt intact"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "peer handshake" 'BitTorrent protocol'
	[ "$(count 'tcp port 8080')" = 0 ] || lab_die "$NAME: tracker traffic leaked onto eth0"
}
