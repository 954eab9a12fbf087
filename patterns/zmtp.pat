# ZMTP - ZeroMQ Message Transport Protocol 3.x (ZeroMQ over TCP)
# Pattern attributes: great veryfast fast
# Protocol groups: networking
# Specification: ZeroMQ RFC 23/ZMTP (ZMTP 3.0) and 37/ZMTP (3.1), "Greeting" (signature, version, mechanism)
# Rule: both peers open with the greeting: the signature 0xff, 8 bytes of
#   padding (zeros, the last one 0x01 so that ZMTP 1.0 peers read a
#   length; NULs vanish under l7 semantics), 0x7f, then the version (major
#   3, minor 0 or 1) and the 20-byte mechanism name ("NULL", "PLAIN",
#   "CURVE", NUL-padded). Implementations send the signature first and the
#   rest when the peer's signature arrived, so the other peer's signature
#   may come between; the version's major byte may be split off too.
# Sample-match: \xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x01NULL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00
# Sample-match: \xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x03\x01NULL
# Sample-match: \xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x00CURVE\x00\x00
# Sample-nomatch: \xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x02\x00
# Sample-nomatch: \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x35\x01\x04

zmtp
^\xff\x01?\x7f(\xff\x01?\x7f)?\x03\x03?[\x01]?(null|plain|curve)
