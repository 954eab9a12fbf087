# IMAP - Internet Message Access Protocol 4rev1 and 4rev2
# Pattern attributes: good veryfast fast
# Protocol groups: mail ietf_proposed_standard
# Specification: RFC 9051 section 7.1 (untagged OK/PREAUTH greeting)
# Rule: the server greets with an untagged "* OK" or "* PREAUTH"; a greeting
#   that names IMAP decides at once, otherwise the client's first tagged
#   command (CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS) does.
# Sample-match: * OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot ready.\r\n
# Sample-match: * OK ready\r\na001 CAPABILITY\r\n
# Sample-nomatch: +OK Dovecot ready.\r\n
# Sample-nomatch: * OK\r\n

imap
^\* (ok|preauth)[\x09-\x0d -~]*(imap|\x0d\x0a[!-~]+ (capability|login|authenticate|starttls))
