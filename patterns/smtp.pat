# SMTP - Simple Mail Transfer Protocol, with ESMTP
# Pattern attributes: good veryfast fast
# Protocol groups: mail ietf_internet_standard
# Specification: RFC 5321 section 4.2 (greeting), 4.1.1.1 (EHLO/HELO)
# Rule: the server greets with "220" and the client's first command is
#   EHLO or HELO (LHLO for LMTP is not SMTP). A greeting that says ESMTP or
#   SMTP decides on the first payload packet.
# Sample-match: 220 mail.example.test ESMTP Postfix\r\n
# Sample-match: 220 mx ready\r\nEHLO client.example.test\r\n
# Sample-nomatch: 220 (vsFTPd 3.0.3)\r\nUSER anonymous\r\n
# Sample-nomatch: 250 OK\r\n

smtp
^220[\x09-\x0d -~]*(e?smtp|\x0d\x0a(ehlo|helo) )
