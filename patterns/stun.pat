# STUN - Session Traversal Utilities for NAT (and TURN), with the magic cookie
# Pattern attributes: great veryfast fast
# Protocol groups: networking voip ietf_proposed_standard
# Specification: RFC 8489 section 5 (message structure, magic cookie 0x2112A442), RFC 8656 (TURN methods)
# Rule: every STUN message starts with a 2-byte type (top two bits 0; class
#   and method, e.g. 0x0001 Binding request, 0x0101 success, 0x0003 TURN
#   Allocate), a 2-byte length and the fixed magic cookie 0x2112A442. Under
#   l7 semantics the type's high byte (often 0) and the length's zero bytes
#   may vanish, so up to 4 bytes precede the cookie; the cookie decides.
#   Classic RFC 3489 STUN has no cookie and is not matched.
# Sample-match: \x00\x01\x00\x00\x21\x12\xa4\x42\x40\xc9\xd0\x1e\x73\x70\x29\x04\xd2\x77\x2f\x63
# Sample-match: \x01\x01\x00\x24\x21\x12\xa4\x42\x40\xc9\xd0\x1e
# Sample-match: \x00\x03\x00\x08\x21\x12\xa4\x42\x01\x02\x03\x04
# Sample-nomatch: \x00\x01\x00\x00\x21\x12\xa4\x43\x40\xc9
# Sample-nomatch: GET / HTTP/1.1\r\n

stun
^\x01?[\x01-\x1c].?.?\x21\x12\xa4\x42
