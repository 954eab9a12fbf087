# SOCKS - SOCKS proxy protocol, versions 4/4a and 5
# Pattern attributes: good veryfast fast
# Protocol groups: networking proxy
# Specification: RFC 1928 sections 3-6 (SOCKS 5), "SOCKS: A protocol for TCP proxy across firewalls" (SOCKS 4) and SOCKS 4A
# Rule: SOCKS 5 opens with a greeting 0x05, NMETHODS (1-10) and the methods
#   (0x00 no auth vanishes under l7 semantics), the server picks one (0x05
#   and the method, often 0x00, gone), then the client's request 0x05, a
#   command CONNECT/BIND/UDP (1-3), a reserved 0x00 (gone) and an address
#   type (1 IPv4, 3 name, 4 IPv6). The pattern wants that sequence up to the
#   request, i.e. sessions without username/password sub-negotiation.
#   SOCKS 4 opens with 0x04, CONNECT/BIND (1-2), port and address (up to 6
#   bytes left after the NULs go), the user id, then the server's reply
#   0x00 0x5a "granted" ("z" once lowercased).
# Sample-match: \x05\x02\x00\x01\x05\x00\x05\x01\x00\x01\xc6\x12\x20\x01\x1f\x90
# Sample-match: \x05\x01\x00\x05\x00\x05\x01\x00\x03\x0bexample.org\x00\x50
# Sample-match: \x04\x01\x1f\x90\xc6\x12\x20\x01\x00\x00\x5a\xd7\xae\xc6\x12\x20\x01
# Sample-match: \x05\x03\x00\x03\x02\x05\x02\x01\x03bob\x06secret\x01\x00\x05\x01\x00\x01\xc6\x12\x20\x01\x1f\x90
# Sample-nomatch: \x05\x01\x00\x05\x00
# Sample-nomatch: \x04\x01\x1f\x90\xc6\x12\x20\x01lab\x00\x00\x5b

socks
^(\x05[\x01-\x0a][\x01-\x09\x80-\xfe]*\x05[\x01-\x09\x80-\xff]?(\x01[\x01-\xff]+)?\x05[\x01-\x03][\x01\x03\x04]|\x04[\x01\x02][\x01-\xff]?[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?[ -~]*\x5a)
