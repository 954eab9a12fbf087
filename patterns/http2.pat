# HTTP2 - HTTP/2 over cleartext TCP with prior knowledge (h2c)
# Pattern attributes: great veryfast fast
# Protocol groups: web, ietf_proposed_standard
# Specification: RFC 9113 section 3.4 (HTTP/2 connection preface)
# Rule: the client's connection preface, the 24 octets
#   "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", at the start of the flow, or right
#   after the server's own preface: a server may send its SETTINGS frame
#   (3-byte length, type 4, flags, stream 0, settings) as soon as it
#   accepts, before the client's bytes arrive (nghttpd does). Under l7
#   semantics that frame keeps at most 2 bytes of length before the type
#   byte 0x04. HTTP/2 over TLS is TLS (the preface is encrypted); h2c
#   reached by an HTTP/1.1 Upgrade starts as HTTP/1.1 and is classified
#   http.
# Sample-match: PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00
# Sample-match: \x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n
# Sample-nomatch: GET / HTTP/1.1\r\nUpgrade: h2c\r\n
# Sample-nomatch: PRI * HTTP/1.1\r\n

http2
^(.?.?\x04.*)?pri \* http/2\.0\x0d\x0a\x0d\x0asm\x0d\x0a\x0d\x0a
