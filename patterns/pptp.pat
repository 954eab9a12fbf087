# PPTP - Point-to-Point Tunneling Protocol, control connection (TCP 1723)
# Pattern attributes: great veryfast fast
# Protocol groups: vpn, ietf_informational
# Specification: RFC 2637 section 2.1 (control message header: length, PPTP message type, magic cookie 0x1a2b3c4d), 2.1 Start-Control-Connection-Request
# Rule: the client opens with Start-Control-Connection-Request: length 156
#   (0x009c: its 0 byte vanishes under l7 semantics), PPTP message type 1
#   (control), the magic cookie 0x1a2b3c4d, control message type 1, a
#   reserved zero word, protocol version 1.0 (0x0100). 0x2b is "+" and is
#   written "\+" (a decoded \x2b would be a quantifier); 0x3c is "<" and
#   0x4d is "M", lowercased to "m" like the data.
# Sample-match: \x00\x9c\x00\x01\x1a\x2b\x3c\x4d\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00local
# Sample-nomatch: \x00\x9c\x00\x01\x1a\x2b\x3c\x4d\x00\x02\x00\x00\x01\x00\x01\x00
# Sample-nomatch: \x00\x9c\x00\x01\x1a\x2b\x3c\x4e\x00\x01\x00\x00\x01\x00

pptp
^.?.?\x01\x1a\+<m\x01\x01
