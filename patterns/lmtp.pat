# LMTP - Local Mail Transfer Protocol
# Pattern attributes: good veryfast fast
# Protocol groups: mail, ietf_informational
# Specification: RFC 2033 section 4.1 (LHLO), RFC 5321 section 4.2 (greeting)
# Rule: the server's SMTP-style greeting ("220" and text, one line), then
#   either "LMTP" in that line or, on the next line, the client's LHLO (the
#   command that replaces HELO/EHLO in LMTP). Both stay inside the greeting
#   and the first command, so mail content never matches. Tried before the
#   smtp pattern (by name); an SMTP session has EHLO/HELO and no "LMTP".
# Sample-match: 220 lmtp.example.test Dovecot (Debian) ready.\r\nLHLO cli.example.test\r\n
# Sample-match: 220 mail.example.test LMTP Server ready\r\n
# Sample-nomatch: 220 mail.example.test ESMTP Exim 4.96\r\nEHLO cli.example.test\r\n
# Sample-nomatch: 220 ready\r\n250 ok\r\nlhlo x\r\n

lmtp
^220[\x09 -~]*(lmtp|\x0d\x0alhlo )
