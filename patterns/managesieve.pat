# ManageSieve - protocol for managing Sieve scripts (TCP 4190)
# Pattern attributes: great veryfast fast
# Protocol groups: mail, ietf_proposed_standard
# Specification: RFC 5804 section 1.7 (capabilities), 2.1 (the server's greeting is a capability response)
# Rule: the server speaks first with its capabilities, one per line: a
#   quoted capability name ("IMPLEMENTATION", "SASL", "SIEVE", "STARTTLS",
#   "NOTIFY", "MAXREDIRECTS", "LANGUAGE", "OWNER", "VERSION"), optionally
#   a space and a quoted value, CRLF; a second line starts with a quoted
#   name too. Dovecot (Pigeonhole) opens with "IMPLEMENTATION".
# Sample-match: "IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n"SIEVE" "fileinto reject envelope"\r\n
# Sample-match: "SIEVE" "fileinto"\r\n"STARTTLS"\r\n
# Sample-match: "STARTTLS"\r\n"SASL" "PLAIN"\r\n
# Sample-nomatch: "IMPLEMENTATION" "x"
# Sample-nomatch: * OK [CAPABILITY IMAP4rev1] ready\r\n

managesieve
^"(implementation|sasl|sieve|starttls|notify|maxredirects|language|owner|version)"( "[^"]*")?\x0d\x0a"[a-z]+"
