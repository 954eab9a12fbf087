# shellcheck shell=bash
# infra/lab/scenarios/pop3.sh — POP3: dovecot (start_dovecot and c_curl_mail
# in imap.sh) + curl, 198.18.11.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario pop3/dovecot-curl-retr dovecot curl

scn_pop3_dovecot_curl_retr() {
	pair 198.18.11
	start_dovecot "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# RETR message 1 (curl sends CAPA, USER/PASS or AUTH, RETR, QUIT)
	c_curl_mail "pop3://$SRV_IP/1"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "POP3 greeting" '+OK Dovecot (l7mesh lab) ready.'
	has "$NAME" "POP3 retrieval" 'RETR 1'
}
