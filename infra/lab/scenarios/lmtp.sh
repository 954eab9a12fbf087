# shellcheck shell=bash
# infra/lab/scenarios/lmtp.sh — LMTP (RFC 2033): dovecot's LMTP server on
# TCP 24 + swaks --protocol LMTP (LHLO, MAIL, RCPT, DATA, one message
# delivered to a maildir), 198.18.54.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario lmtp/dovecot-swaks-deliver dovecot swaks

start_dovecot_lmtp() { # IP
	local ip=$1 d=$W/dovecot
	mkdir -p "$d/home/lab"
	{
		dovecot_conf "$d" "$ip" lmtp %n
		cat <<EOF
hostname = mail.example.test
auth_username_format = %n
service lmtp {
  inet_listener lmtp {
    address = $ip
    port = 24
  }
}
EOF
	} >"$d/dovecot.conf"
	dovecot_run "$d" "$ip" 24
}

scn_lmtp_dovecot_swaks_deliver() {
	pair 198.18.54
	start_dovecot_lmtp "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 15 swaks --protocol LMTP --server "$SRV_IP" --port 24 --timeout 10 \
		--helo cli.example.test --from sender@example.test --to lab@example.test \
		--header 'Subject: hello from the l7mesh lab' --body 'One message, delivered over LMTP.' \
		>"$W/swaks.out" 2>&1 || { cat "$W/swaks.out" >&2; lab_die "swaks (LMTP) failed"; }
	grep -rqs 'hello from the l7mesh lab' "$W/dovecot/home/lab/Maildir/new" ||
		{ cat "$W/swaks.out" "$W/dovecot/dovecot.log" >&2; lab_die "the message was not delivered"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "LHLO" 'LHLO cli.example.test'
	has "$NAME" "delivered message" 'hello from the l7mesh lab'
}
