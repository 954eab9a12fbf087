# NTP - Network Time Protocol versions 1 to 4, client/server mode
# Pattern attributes: ok fast
# Protocol groups: networking ietf_proposed_standard
# Specification: RFC 5905 section 7.3 (packet header), RFC 4330 (SNTP)
# Rule: a client request (mode 3) is 48 bytes whose first byte holds the
#   leap indicator, version 1-4 and mode 3; the server's reply (mode 4, same
#   version) follows it, beginning with that byte, the stratum (1-15), the
#   poll exponent (0-17, gone under l7 semantics when 0) and the precision
#   (a negative exponent, 0xe0-0xfa). The request's NUL bytes vanish, so its
#   47 remaining bytes keep 0 to 47 bytes: the reply's header must start
#   within 48 bytes of the flow's start. Two packets are needed because a
#   request alone (mostly zeros and a timestamp) has no reliable signature.
#   Binary, so it can hit random data about once in a few thousand flows.
#   "0 to N bytes" is written as optional chunks of 16/8/4/2/1 dots, not as
#   N times ".?", so that a backtracking matcher tries a few dozen splits
#   instead of 2^N (and the kernel's limit of 9 groups holds).
# FP-threshold: 0.002
# Sample-match: \xe3\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xee\xac\xdd\x99\x2d\x94\x60\x12\x24\x08\x00\xe7\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x7f\x01\x01
# Sample-match: \x23\x00\x06\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x61\xd4\x8d\xf1\xc3\x10\x77\xdd\x24\x08\x06\xe7
# Sample-nomatch: \xe3\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xee\xac\xdd\x99\x2d\x94\x60\x12
# Sample-nomatch: \x24\x08\x06\xe7\x00\x00\x00\x00

ntp
^[\x0b\x13\x1b\x23\x4b\x53\x5b\x63\x8b\x93\x9b\xa3\xcb\xd3\xdb\xe3](................)?(................)?(........)?(....)?(..)?.?[\x0c\x14\x1c\x24\x4c\x54\x5c\x64\x8c\x94\x9c\xa4\xcc\xd4\xdc\xe4][\x01-\x0f][\x01-\x11]?[\xe0-\xfa]
