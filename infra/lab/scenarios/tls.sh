# shellcheck shell=bash
# infra/lab/scenarios/tls.sh — TLS 1.2 and 1.3: openssl s_server/s_client,
# nginx with ssl + curl -k, 198.18.15.0/24; and a connection recorded from
# the middle, after its handshake (what an edge that picks a connection up
# late, or a capture started late, sees).
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario tls/openssl-s_client-tls12 openssl
scenario tls/openssl-s_client-tls13 openssl
scenario tls/nginx-curl-https nginx curl openssl
scenario tls/openssl-s_client-midstream openssl

# lab_cert DIR: a throw-away self-signed certificate for lab.example.test
lab_cert() {
	[ -f "$1/cert.pem" ] && return 0
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
		-subj '/CN=lab.example.test' -addext 'subjectAltName=DNS:lab.example.test' \
		-keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1 || lab_die "openssl req failed"
	chmod 0644 "$1/key.pem" "$1/cert.pem"
}

start_s_server() { # IP PORT VERSION-OPTION
	local ip=$1 port=$2 d=$W/s_server
	lab_cert "$d"
	# -www: answer a GET with a status page; -naccept: exit after the sessions
	lab_spawn srv openssl s_server -accept "$ip:$port" -cert "$d/cert.pem" -key "$d/key.pem" \
		"$3" -www -naccept 3 >"$d/s_server.log" 2>&1
	lab_wait_port cli "$ip" "$port" 10 || { cat "$d/s_server.log" >&2; lab_die "s_server did not start"; }
}

c_s_client() { # IP PORT VERSION-OPTION
	printf 'GET / HTTP/1.0\r\n\r\n' |
		lab_exec cli timeout 10 openssl s_client -connect "$1:$2" "$3" -servername lab.example.test \
			-ign_eof -quiet >"$W/s_client.out" 2>&1 || true
	grep -q 'HTTP/1.0 200 ok' "$W/s_client.out" || { cat "$W/s_client.out" >&2; lab_die "s_client got no page"; }
}

start_nginx_tls() { # IP PORT
	local ip=$1 port=$2 d=$W/nginx-tls
	lab_cert "$d"
	mkdir -p "$d/www"
	printf '<!doctype html><title>l7mesh lab over TLS</title><p>hello</p>\n' >"$d/www/index.html"
	chmod -R a+rX "$d/www"
	# nginx_conf_head and nginx_run: in http.sh
	{
		nginx_conf_head "$d"
		cat <<EOF
    types { text/html html; }
    server {
        listen $ip:$port ssl;
        server_name lab.example.test;
        ssl_certificate $d/cert.pem;
        ssl_certificate_key $d/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $d/www;
    }
}
EOF
	} >"$d/nginx.conf"
	nginx_run srv "$d" "$ip" "$port"
}

check_tls() { # NAME
	# a handshake record with a ClientHello (type 22, then handshake type 1)
	atleast "$1" "TLS ClientHello" 'tcp[((tcp[12] >> 4) * 4)] = 22 and tcp[((tcp[12] >> 4) * 4) + 5] = 1' 1
	has "$1" "server certificate or SNI" 'lab.example.test'
}

scn_tls_openssl_s_client_tls12() {
	pair 198.18.15
	start_s_server "$SRV_IP" 4433 -tls1_2
	lab_capture_start srv eth0 "$PCAP"
	c_s_client "$SRV_IP" 4433 -tls1_2
	lab_capture_stop
	dump "$PCAP"
	check_tls "$NAME"
}

scn_tls_openssl_s_client_tls13() {
	pair 198.18.15
	start_s_server "$SRV_IP" 4433 -tls1_3
	lab_capture_start srv eth0 "$PCAP"
	c_s_client "$SRV_IP" 4433 -tls1_3
	lab_capture_stop
	dump "$PCAP"
	check_tls "$NAME"
}

scn_tls_nginx_curl_https() {
	pair 198.18.15
	start_nginx_tls "$SRV_IP" 443
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 20 curl -4 -sS -k --noproxy '*' --max-time 10 -o /dev/null \
		--resolve "lab.example.test:443:$SRV_IP" -w 'curl %{http_code} %{url_effective}\n' \
		https://lab.example.test/index.html
	lab_exec cli timeout 20 curl -4 -sS -k --noproxy '*' --max-time 10 -o /dev/null --tlsv1.2 --tls-max 1.2 \
		--resolve "lab.example.test:443:$SRV_IP" -w 'curl %{http_code} %{url_effective} (TLS 1.2)\n' \
		https://lab.example.test/index.html
	lab_capture_stop
	dump "$PCAP"
	check_tls "$NAME"
	atleast "$NAME" "TCP connection openings" "$SYN" 2
}

scn_tls_openssl_s_client_midstream() {
	pair 198.18.15
	start_s_server "$SRV_IP" 4433 -tls1_3
	# s_client reads its request from a FIFO, so the handshake happens now and
	# the request only once the capture runs. Opened read-write, the FIFO
	# never blocks either side.
	mkfifo "$W/request"
	exec 8<>"$W/request"
	lab_spawn cli bash -c 'exec openssl s_client -connect "$1" -tls1_3 -servername lab.example.test -ign_eof <"$2"' \
		s_client "$SRV_IP:4433" "$W/request" >"$W/s_client-mid.out" 2>&1
	local client=$LAB_LAST_PID
	lab_wait_file "$W/s_client-mid.out" '^Verify return code' 10 || { cat "$W/s_client-mid.out" >&2; lab_die "s_client did not finish its handshake"; }
	# the server's session tickets follow the handshake: let them pass before recording
	sleep 0.5
	lab_capture_start srv eth0 "$PCAP"
	printf 'GET / HTTP/1.0\r\n\r\n' >&8
	exec 8>&-
	lab_wait_file "$W/s_client-mid.out" 'HTTP/1.0 200 ok' 10 || { cat "$W/s_client-mid.out" >&2; lab_die "s_client got no page"; }
	lab_stop "$client" TERM 5 || true
	lab_capture_stop
	dump "$PCAP"
	# no handshake in the capture: it opens with application data records (type 23)
	[ "$(count "$SYN")" = 0 ] || lab_die "$NAME: the capture holds a connection opening"
	[ "$(count 'tcp[((tcp[12] >> 4) * 4)] = 22')" = 0 ] || lab_die "$NAME: the capture holds a handshake record"
	atleast "$NAME" "TLS application data records" 'tcp[((tcp[12] >> 4) * 4)] = 23 and tcp[((tcp[12] >> 4) * 4) + 1] = 3' 2
}
