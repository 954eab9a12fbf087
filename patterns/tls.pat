# TLS - Transport Layer Security 1.0 to 1.3 (and SSL 3.0), handshake
# Pattern attributes: good veryfast fast superset
# Protocol groups: secure ietf_proposed_standard
# Specification: RFC 8446 section 5.1 (record layer) and 4.1.2 (ClientHello)
# Rule: a handshake record (content type 0x16, version 0x03 0x00-0x04), a
#   two-byte length, then a ClientHello (type 0x01) with a three-byte length
#   and a legacy_version 0x03 0x01-0x03. l7 semantics drop NUL bytes, so the
#   length bytes may vanish: they are optional here, and the hello's length
#   (whose first byte is always 0x00) keeps at most two bytes.
# Sample-match: \x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh
# Sample-match: \x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03abcdefgh
# Sample-nomatch: \x17\x03\x03\x00\x20abcdefgh
# Sample-nomatch: GET / HTTP/1.1\r\n

tls
^\x16\x03[\x01-\x04].?.?\x01.?.?\x03[\x01-\x04]
