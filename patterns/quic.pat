# QUIC - QUIC transport (RFC 9000 version 1, RFC 9369 version 2, IETF drafts, Google QUIC), connection start over UDP
# Pattern attributes: ok veryfast fast overmatch
# Protocol groups: web secure ietf_proposed_standard
# Specification: RFC 9000 section 17.2 (long header), 17.2.2 (Initial packet); RFC 9369 section 3.2 (version 2 packet types); RFC 8999 (version-independent properties)
# Rule: a QUIC connection starts with long-header packets (Initial, then
#   Handshake): the first byte has the header-form and fixed bits set
#   (0xc0-0xff; the low four bits are masked by header protection, the
#   packet type is 0xc0-0xdf for Initial and 0-RTT in version 1 and
#   Initial in version 2), then the 32-bit version: 0x00000001 (v1),
#   0x6b3343cf (v2), 0xff0000NN (drafts 27-34) or Google QUIC's "Q0NN", then
#   the destination connection ID's length (1-20). l7 semantics drop NUL
#   bytes, so v1's version leaves only 0x01 and a draft's 0xff and its
#   number. The rest is encrypted. Only three or four bytes are fixed, so a
#   DNS message whose ID happens to look like this could be taken: the
#   pattern is marked overmatch and tried after the precise ones (dns comes
#   first). DNS over QUIC and HTTP/3 are QUIC on the wire: a payload pattern
#   cannot tell them apart.
# FP-threshold: 0.002
# Sample-match: \xc3\x00\x00\x00\x01\x08\x3a\x1b\x9c\x55\x01\x02\x03\x04\x00\x00\x44\xd0\x7e\x22
# Sample-match: \xd1\x6b\x33\x43\xcf\x08\x3a\x1b\x9c\x55\x01\x02\x03\x04\x00\x00\x44\xd0
# Sample-match: \xd6\x70\x9a\x50\xc4\x12\x72\xac\x8e\x8c\x64\x21\x12\x24\x6a\xd6
# Sample-match: \xcb\xff\x00\x00\x1d\x08\x3a\x1b\x9c\x55\x01\x02\x03\x04\x00\x00\x44\xd0
# Sample-match: \xc3Q050\x08\x3a\x1b\x9c\x55\x01\x02\x03\x04
# Sample-nomatch: \x43\x00\x00\x00\x01\x08\x3a\x1b\x9c\x55
# Sample-nomatch: \xc3\x00\x00\x00\x02\x08\x3a\x1b\x9c\x55
# Sample-nomatch: \xc3\x00\x00\x00\x01\x30\x3a\x1b\x9c\x55

quic
^[\xc0-\xff](\x01|\x6b\x33\x43\xcf|\x70\x9a\x50\xc4|\xff[\x1b-\x22]|q0[45][0-9])[\x01-\x14]
