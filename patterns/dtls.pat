# DTLS - Datagram Transport Layer Security 1.0 and 1.2, handshake start
# Pattern attributes: great veryfast fast
# Protocol groups: secure, ietf_proposed_standard
# Specification: RFC 6347 section 4.1 (record layer), 4.2.2 (handshake header), 4.2.1 (ClientHello, HelloVerifyRequest); RFC 4347
# Rule: a DTLS flow opens with a handshake record (content type 22) whose
#   version is DTLS 1.0 (0xfeff), 1.2 (0xfefd) or the pre-RFC 0x0100-less
#   0xfefc; then epoch (2 bytes), sequence number (6) and length (2), mostly
#   zero, so 0 to 10 bytes are left under l7 semantics; then handshake type
#   1 (ClientHello) and its length (3), message_seq (2), fragment_offset (3)
#   and fragment_length (3): 0 to 11 bytes left; then the ClientHello's own
#   version, again 0xfeff/0xfefd/0xfefc. The gaps are written as optional
#   chunks of 8/4/2/1 bytes (no long runs of ".?"). TLS records carry 0x03
#   as the version's first byte, so TLS never matches.
# Sample-match: \x16\xfe\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\xdd\x01\x00\x00\xd1\x00\x00\x00\x00\x00\x00\x00\xd1\xfe\xfd\x6b\x2a
# Sample-match: \x16\xfe\xff\x00\x00\x00\x00\x00\x00\x00\x01\x00\xf1\x01\x00\x00\xe5\x00\x01\x00\x00\x00\x00\x00\xe5\xfe\xfd\x6b\x2a
# Sample-match: \x16\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x01\x2c\x01\x00\x01\x20\x00\x00\x00\x00\x00\x00\x01\x20\xfe\xfd
# Sample-match: \x16\xfe\xff\x00\x00\x00\x00\x00\x00\x00\x01\x00\xf1\x01\x00\x01\x20\x00\x01\x00\x00\x00\x00\x01\x20\xfe\xfd
# Sample-nomatch: \x16\x03\x01\x00\xdd\x01\x00\x00\xd9\x03\x03
# Sample-nomatch: \x17\xfe\xfd\x00\x01\x00\x00\x00\x00\x00\x01\x00\x1d

dtls
^\x16\xfe[\xfc\xfd\xff](........)?(....)?(..)?.?\x01(........)?(....)?(..)?.?\xfe[\xfc\xfd\xff]
