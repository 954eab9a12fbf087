# X11 - X Window System core protocol, connection setup over TCP
# Pattern attributes: good fast
# Protocol groups: remote-access
# Specification: X Window System Protocol (X11R7), chapter 8 "Connection Setup"
# Rule: the client opens with its byte order ('B' 0x42 or 'l' 0x6c), an
#   unused byte, the protocol major version 11 and minor 0 (two bytes each,
#   in that byte order), the lengths of the authorization name and data,
#   then both (e.g. "MIT-MAGIC-COOKIE-1" and its 16 random bytes). The
#   server answers with a status byte (0 Failed, 1 Success, 2 Authenticate)
#   and, for Failed and Success, the major version 11 again. Under l7
#   semantics the request without authorization is just "[bl]\x0b"; the
#   reply's first non-NUL bytes are the status (or, for Failed, the reason
#   length) and 0x0b. Both are required: the request alone is two bytes.
#   The cookie's 16 bytes (minus NULs) are matched as chunks of 8/4/2/1/1.
# Sample-match: l\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x0b\x00\x00\x00\x55\x09
# Sample-match: B\x00\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x0b\x00\x00\x09\x55
# Sample-match: l\x00\x0b\x00\x00\x00\x12\x00\x10\x00\x00\x00MIT-MAGIC-COOKIE-1\x00\x00\x9b\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x01\x00\x0b\x00
# Sample-nomatch: l\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00
# Sample-nomatch: like\x0bthis\x0b

x11
^[bl]\x0b(\x12\x10mit-magic-cookie-1(........)?(....)?(..)?.?.?)?.\x0b
