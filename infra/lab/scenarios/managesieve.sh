# shellcheck shell=bash
# infra/lab/scenarios/managesieve.sh — ManageSieve (RFC 5804, TCP 4190):
# dovecot's managesieve (Pigeonhole) + sieve-connect (login, upload of a
# script, list), 198.18.53.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario managesieve/dovecot-sieve-connect-upload dovecot sieve-connect

start_dovecot_managesieve() { # IP
	local ip=$1 d=$W/dovecot
	mkdir -p "$d/home/lab/sieve"
	{
		dovecot_conf "$d" "$ip" sieve
		dovecot_plaintext_login
		cat <<'EOF'
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
service managesieve-login {
  chroot =
  inet_listener sieve {
    port = 4190
  }
}
EOF
	} >"$d/dovecot.conf"
	dovecot_run "$d" "$ip" 4190
}

scn_managesieve_dovecot_sieve_connect_upload() {
	pair 198.18.53
	start_dovecot_managesieve "$SRV_IP"
	cat >"$W/lab.sieve" <<'EOF'
require "fileinto";
if header :contains "subject" "l7mesh" { fileinto "lab"; }
EOF
	lab_capture_start srv eth0 "$PCAP"
	# no TLS offered (ssl = no): --clearchan lets sieve-connect log in in
	# clear (PLAIN)
	local c=(lab_exec cli env -i PATH=/usr/bin:/bin HOME="$W" timeout 15 sieve-connect --4 --clearchan -s "$SRV_IP" -p 4190
		-u lab --passwordfd 3)
	"${c[@]}" --upload --localsieve "$W/lab.sieve" --remotesieve lab 3<<<'labsecret' >"$W/upload.out" 2>&1 ||
		{ cat "$W/upload.out" >&2; lab_die "sieve-connect --upload failed"; }
	"${c[@]}" --list 3<<<'labsecret' >"$W/list.out" 2>&1 || { cat "$W/list.out" >&2; lab_die "sieve-connect --list failed"; }
	grep -q '"lab"' "$W/list.out" || { cat "$W/list.out" >&2; lab_die "uploaded script not listed"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "greeting capability" '"IMPLEMENTATION" "Dovecot'
	has "$NAME" "PUTSCRIPT" 'PUTSCRIPT'
	atleast "$NAME" "TCP connection openings" "$SYN" 2
}
