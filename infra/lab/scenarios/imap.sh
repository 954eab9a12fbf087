# shellcheck shell=bash
# infra/lab/scenarios/imap.sh — IMAP: dovecot + curl, 198.18.12.0/24. Also
# defines start_dovecot and c_curl_mail, which pop3.sh uses.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario imap/dovecot-curl-fetch dovecot curl

# start_dovecot IP: IMAP on 143 and POP3 on 110, plaintext logins allowed (no
# TLS), one user "lab" (password "labsecret") in a passwd-file, mail in a
# maildir under the scratch dir with one message in it.
start_dovecot() { # IP
	local ip=$1 d=$W/dovecot
	mkdir -p "$d/home/lab/Maildir/cur" "$d/home/lab/Maildir/new" "$d/home/lab/Maildir/tmp"
	cat >"$d/home/lab/Maildir/cur/1700000000.M1P1.lab:2,S" <<'EOF'
From: someone@example.test
To: lab@example.test
Subject: welcome to the l7mesh lab
Date: Wed, 15 Nov 2023 00:00:00 +0000
Message-ID: <1@example.test>

One message in the mailbox, fetched over IMAP and POP3.
EOF
	{
		dovecot_conf "$d" "$ip" 'imap pop3'
		dovecot_plaintext_login
		cat <<'EOF'
login_greeting = Dovecot (l7mesh lab) ready.
pop3_uidl_format = %08Xu%08Xv
service imap-login {
  chroot =
}
service pop3-login {
  chroot =
}
EOF
	} >"$d/dovecot.conf"
	dovecot_run "$d" "$ip" 143 110
}

# c_curl_mail URL: curl, as user lab, fetches start_dovecot's message from
# URL (imap:// or pop3://) into $W/<scheme>.out and checks it came.
c_curl_mail() {
	local out=$W/${1%%:*}.out
	lab_exec cli timeout 20 curl -4 -sS --noproxy '*' --max-time 10 -u lab:labsecret "$1" >"$out"
	grep -q 'welcome to the l7mesh lab' "$out" || lab_die "curl did not fetch the message from $1"
}

scn_imap_dovecot_curl_fetch() {
	pair 198.18.12
	start_dovecot "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# list the mailbox, then fetch message 1
	c_curl_mail "imap://$SRV_IP/INBOX;UID=1"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "IMAP greeting" '* OK [CAPABILITY IMAP4rev1'
	has "$NAME" "IMAP login" 'LOGIN'
	has "$NAME" "IMAP fetch" 'FETCH'
}
