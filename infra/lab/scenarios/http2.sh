# shellcheck shell=bash
# infra/lab/scenarios/http2.sh — HTTP/2 over cleartext TCP with prior
# knowledge (h2c, RFC 9113 section 3.3): nghttpd --no-tls + nghttp and curl
# --http2-prior-knowledge, 198.18.47.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario http2/nghttpd-nghttp-curl-h2c nghttpd nghttp curl

start_nghttpd() { # IP
	local ip=$1 d=$W/nghttpd
	mkdir -p "$d/htdocs"
	printf 'hello from the l7mesh lab, over h2c\n' >"$d/htdocs/index.html"
	lab_spawn srv nghttpd --no-tls -a "$ip" -d "$d/htdocs" 8080 >"$d/nghttpd.log" 2>&1
	lab_wait_port cli "$ip" 8080 10 || { cat "$d/nghttpd.log" >&2; lab_die "nghttpd did not start"; }
}

scn_http2_nghttpd_nghttp_curl_h2c() {
	pair 198.18.47
	start_nghttpd "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# nghttp speaks HTTP/2 directly on http:// URIs (no Upgrade without -u)
	lab_exec cli timeout 10 nghttp -t 5 "http://$SRV_IP:8080/index.html" >"$W/nghttp.out" 2>&1 ||
		{ cat "$W/nghttp.out" >&2; lab_die "nghttp failed"; }
	lab_exec cli timeout 10 curl -4 -sS --max-time 5 --http2-prior-knowledge "http://$SRV_IP:8080/index.html" \
		>"$W/curl.out" 2>&1 || { cat "$W/curl.out" >&2; lab_die "curl --http2-prior-knowledge failed"; }
	grep -q 'over h2c' "$W/nghttp.out" && grep -q 'over h2c' "$W/curl.out" || lab_die "h2c GETs returned something else"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "connection preface" 'PRI * HTTP/2.0'
	atleast "$NAME" "TCP connection openings" "$SYN" 2
}
