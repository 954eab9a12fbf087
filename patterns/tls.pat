# TLS - Transport Layer Security 1.0 to 1.3 (and SSL 3.0), handshake or records
# Pattern attributes: good veryfast fast superset
# Protocol groups: secure ietf_proposed_standard
# Specification: RFC 8446 section 5.1 (record layer) and 4.1.2 (ClientHello); RFC 5246 appendix E.2 (SSL 2.0 compatible ClientHello)
# Rule: the flow opens with a TLS record header: content type 22
#   (handshake), version 0x03 0x01-0x04: a ClientHello as usual, or a
#   ServerHello or later handshake message when the capture or the edge
#   picked the connection up late. Also a flow caught mid-stream, whose first
#   record is application data (23) or an alert (21) with version 0x03
#   0x01-0x03 (TLS 1.3 writes 0x0303 in every record), or a change cipher
#   spec (20) with its fixed length 1 and value 1. Also the SSL 2.0
#   compatible ClientHello old clients and scanners send: a two-byte header
#   with the high bit set (length below 512), type 1 (CLIENT-HELLO), version
#   0x03 0x01-0x03. The record length cannot be checked: l7 semantics drop
#   NUL bytes, so its high byte (usually 0) vanishes.
#   Port-only variants (DNS over TLS, HTTPS, IMAPS, ...) are TLS on the wire
#   and are classified tls: a payload pattern cannot tell them apart.
# Sample-match: \x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh
# Sample-match: \x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03abcdefgh
# Sample-match: \x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03abcdefgh
# Sample-match: \x17\x03\x03\x00\x20abcdefgh
# Sample-match: \x15\x03\x03\x00\x1a\x8f\x2e\x91abcdefgh
# Sample-match: \x14\x03\x03\x00\x01\x01\x17\x03\x03\x00\x35
# Sample-match: \x80\x80\x01\x03\x01\x00\x57\x00\x00\x00\x20\x00\x00\x39
# Sample-nomatch: \x17\xfe\xfd\x00\x01\x00\x00\x00\x00\x00\x01\x00\x1d
# Sample-nomatch: \x17\x03\x05\x00\x20abcdefgh
# Sample-nomatch: \x14\x03\x03\x00\x02\x01\x01
# Sample-nomatch: GET / HTTP/1.1\r\n

tls
^(\x16\x03[\x01-\x04]|[\x15\x17]\x03[\x01-\x03]|\x14\x03[\x01-\x03]\x01\x01|[\x80\x81].?\x01\x03[\x01-\x03])
