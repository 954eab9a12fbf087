# shellcheck shell=bash
# infra/lab/scenarios/gopher.sh — Gopher (RFC 1436): gophernicus (an inetd
# service, under tcpsvd) + curl gopher:// (two menus: the root and a
# sub-directory), 198.18.64.0/24. Only menus are fetched: a plain file
# transfer is the bare file's bytes after the selector.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario gopher/gophernicus-curl-menu tcpsvd gophernicus curl

start_gophernicus() { # IP
	local ip=$1 d=$W/gopher
	mkdir -p "$d/root/docs"
	printf 'hello from the l7mesh lab, over gopher\n' >"$d/root/hello.txt"
	printf 'lab notes\n' >"$d/root/docs/notes.txt"
	chmod -R a+rX "$d/root"
	# -h host name in menus, -r root, -nv no virtual hosts, -nf no
	# fingerd, -nu no ~user dirs, -nl no syslog; run as nobody (tcpsvd -u:
	# gophernicus refuses root)
	lab_spawn srv tcpsvd -v -c 4 -u nobody -l srv.example.test "$ip" 70 \
		gophernicus -h srv.example.test -p 70 -r "$d/root" -nv -nf -nu -nl >"$d/tcpsvd.log" 2>&1
	lab_wait_port cli "$ip" 70 10 || { cat "$d/tcpsvd.log" >&2; lab_die "tcpsvd/gophernicus did not start"; }
	sleep 0.5
}

scn_gopher_gophernicus_curl_menu() {
	pair 198.18.64
	start_gophernicus "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	local c=(lab_exec cli timeout 10 curl -4 -sS --noproxy '*' --max-time 5)
	"${c[@]}" "gopher://$SRV_IP/1/" >"$W/root.out" 2>&1 || { cat "$W/root.out" >&2; lab_die "curl gopher root menu failed"; }
	grep -q 'hello.txt' "$W/root.out" || { cat "$W/root.out" >&2; lab_die "root menu lacks hello.txt"; }
	"${c[@]}" "gopher://$SRV_IP/1/docs/" >"$W/docs.out" 2>&1 || { cat "$W/docs.out" >&2; lab_die "curl gopher docs menu failed"; }
	grep -q 'notes.txt' "$W/docs.out" || { cat "$W/docs.out" >&2; lab_die "docs menu lacks notes.txt"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "menu entry" 'hello.txt'
	atleast "$NAME" "TCP connection openings" "$SYN" 2
}
