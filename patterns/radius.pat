# RADIUS - Remote Authentication Dial In User Service, requests (UDP 1812/1813)
# Pattern attributes: ok fast
# Protocol groups: networking, secure, ietf_draft_standard
# Specification: RFC 2865 section 3 (packet format), 5.1 (User-Name); RFC 2866 section 3, 5.1 (Accounting-Request, Acct-Status-Type); RFC 5997 (Status-Server)
# Rule: a request opens the flow: code 1 (Access-Request), 4
#   (Accounting-Request) or 12 (Status-Server), the identifier, the 16-bit
#   length and the 16-byte Request Authenticator (random), then the
#   attributes. Under l7 semantics the identifier, length and authenticator
#   keep 0 to 19 bytes (written as optional chunks of 8/4/4/2/1, no long
#   runs of ".?"), so the first attribute is found within that distance:
#   either User-Name (type 1, a length of 3 or more, a name of printable
#   characters without spaces) followed by the type and length of a usual
#   second attribute (User-Password 2 with 18, 34, ... 130; CHAP-Password 3
#   with 19; NAS-IP-Address 4, NAS-Port 5, Service-Type 6 and NAS-Port-Type
#   61 with 6; Called/Calling-Station-Id 30/31 and NAS-Identifier 32
#   with any length; Message-Authenticator 80 with 18), or
#   Acct-Status-Type (type 40, length 6, value Start/Stop/Interim/On/Off;
#   type 40 is "(", written "\(" since \x28 would be decoded to a group).
#   The second attribute is required because a User-Name alone (0x01,
#   length, a printable byte) turns up in random binary within 20 bytes of
#   a 0x01 too often (WireGuard's handshake initiation starts with 0x01
#   and random bytes).
# Sample-match: \x01\xab\x00\x32\x5a\x1b\x05\x08\x38\xd0\xa2\x67\xe0\xcc\xf2\x98\x5d\x80\x01\x7e\x01\x05lab\x02\x12\x01\x43
# Sample-match: \x04\x07\x00\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x28\x06\x00\x00\x00\x01\x01\x05lab
# Sample-match: \x0c\x10\x00\x26\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x10\x01\x07nas01\x04\x06\xc6\x12\x38\x02
# Sample-nomatch: \x02\xab\x00\x2f\xac\xe3\x16\x37\x04\xb0\x12\x41\xe0\x39\x63\xfe\xea\x50\x20\xe5\x12\x1bhello
# Sample-nomatch: \x01\x00\x00\x14\x00\x00\x00\x00
# Sample-nomatch: \x01\x00\x00\x00\xc3\x7a\x91\x05\x01\x09abcd\xee\x11

radius
^[\x01\x04\x0c](........)?(....)?(....)?(..)?.?(\x01[\x03-\xff][!-~]+(\x02[\x12\x22\x32\x42\x52\x62\x72\x82]|\x03\x13|[\x04\x05\x06\x3d]\x06|[\x1e\x1f\x20]|\x50\x12)|\(\x06[\x01-\x03\x07\x08])
