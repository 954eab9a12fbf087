# POP3 - Post Office Protocol version 3
# Pattern attributes: good veryfast fast
# Protocol groups: mail ietf_internet_standard
# Specification: RFC 1939 section 4 (greeting "+OK"), RFC 2449 (CAPA)
# Rule: the server greets with "+OK" and the client follows with a POP3
#   command (USER, APOP, CAPA, STLS, AUTH); a greeting naming POP3 is enough.
# Sample-match: +OK Dovecot ready.\r\nCAPA\r\n
# Sample-match: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n
# Sample-nomatch: +OK\r\n
# Sample-nomatch: * OK IMAP4rev1 ready\r\n

pop3
^\+ok([\x09-\x0d -~]*pop3|[\x09-\x0d -~]*\x0d\x0a(user|apop|capa|stls|auth)[ \x0d])
