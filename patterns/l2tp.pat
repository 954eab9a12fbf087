# L2TP - Layer 2 Tunneling Protocol (v2, and v3 over UDP), control connection start
# Pattern attributes: great veryfast fast
# Protocol groups: vpn, networking, ietf_proposed_standard
# Specification: RFC 2661 section 3.1 (header), 4.1 (AVP format), 4.4.1 (Message Type AVP), 6.1 (SCCRQ); RFC 3931 section 4.1.2.1 (L2TPv3 control header over UDP)
# Rule: a tunnel starts with the initiator's Start-Control-Connection-Request:
#   a control header with the T, L and S bits (first byte 0xc8) and version
#   2 (or 3), the length, then tunnel and session id (v2) or control
#   connection id (v3) and Ns/Nr, all zero in the first message and so
#   dropped under l7 semantics; then the Message Type AVP, which must come
#   first: M bit and length 8 (0x80 0x08), vendor 0 and attribute type 0
#   (dropped), value 1 (SCCRQ).
# Sample-match: \xc8\x02\x00\x71\x00\x00\x00\x00\x00\x00\x00\x00\x80\x08\x00\x00\x00\x00\x00\x01\x80\x08\x00\x00\x00\x02\x01\x00
# Sample-match: \xc8\x03\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00\x80\x08\x00\x00\x00\x00\x00\x01
# Sample-nomatch: \xc8\x02\x00\x71\x19\xe9\x00\x00\x00\x00\x00\x01\x80\x08\x00\x00\x00\x00\x00\x02
# Sample-nomatch: \x02\x40\x00\x00\xff\x03\xc0\x21

l2tp
^\xc8[\x02\x03].?.?\x80\x08\x01
