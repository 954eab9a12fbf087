# DICT - Dictionary Server Protocol (TCP 2628)
# Pattern attributes: great veryfast fast
# Protocol groups: networking, ietf_proposed_standard
# Specification: RFC 2229 section 3.1 (initial connection: banner "220 text capabilities msg-id")
# Rule: the server's banner: "220", free text, the capabilities in angle
#   brackets (dot-separated words such as "auth.mime", possibly empty),
#   then the message id used for authentication, in angle brackets with an
#   "@" (like an e-mail Message-ID), CRLF. SMTP greetings carry no such
#   pair of bracketed tokens at the end of the line.
# Sample-match: 220 vm dictd 1.13.0/rf on Linux 6.18.44 <auth.mime> <2.31181.1795322102@vm>\r\n
# Sample-match: 220 dict.example.test dictd <> <1.2.3@dict.example.test>\r\n
# Sample-nomatch: 220 mail.example.test ESMTP Exim 4.96 Sat, 22 Nov 2026 04:35:02 +0000\r\n
# Sample-nomatch: 220 ready <auth.mime>\r\n

dict
^220 [\x09 -~]*<[a-z0-9._]*> *<[!-~]+@[!-~]+>\x0d\x0a
