# NNTP - Network News Transfer Protocol (Usenet), reader and transit sessions
# Pattern attributes: great veryfast fast
# Protocol groups: networking ietf_proposed_standard
# Specification: RFC 3977 section 5.1 (initial connection: 200 posting allowed, 201 not), 3.2 (responses) and 5-8 (commands); RFC 4643 (AUTHINFO), RFC 4642 (STARTTLS), RFC 4644 (MODE STREAM, CHECK, TAKETHIS), RFC 8054 (COMPRESS), RFC 2980 (XOVER, XHDR, XPAT and other extensions)
# Rule: the server greets with 200 or 201 and a text line ending in CRLF;
#   the client's first command follows: one of the NNTP commands, then a
#   space or CRLF. A greeting alone ("200 ready") is too plain to be a
#   signature. NNTP over TLS (port 563, NNTPS) is TLS on the wire from the
#   first byte and is classified as tls: a payload pattern cannot tell it
#   from any other TLS.
# Sample-match: 200 Leafnode NNTP Daemon, version 1.12.0 running at news.70.18.198.in-addr.arpa\r\nCAPABILITIES\r\n500 Unknown command\r\n
# Sample-match: 201 news.example.test InterNetNews NNRP server INN 2.7.1 ready (no posting)\r\nmode reader\r\n
# Sample-match: 200 server ready\r\nAUTHINFO USER lab\r\n381 Password required\r\n
# Sample-match: 200 news.example.test InterNetNews server INN 2.7.1 ready (transit mode)\r\nMODE STREAM\r\n203 Streaming permitted\r\n
# Sample-nomatch: 220 ftp.example.test FTP server ready\r\nUSER anonymous\r\n
# Sample-nomatch: 200 OK\r\nhello\r\n
# Sample-nomatch: HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n

nntp
^20[01][\x09 -~]*\x0d\x0a(capabilities|mode (reader|stream)|authinfo|starttls|compress|list|group|listgroup|article|head|body|stat|next|last|newgroups|newnews|over|xover|hdr|xhdr|xpat|date|help|post|ihave|check|takethis|quit)[ \x0d]
