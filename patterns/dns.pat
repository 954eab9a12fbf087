# DNS - Domain Name System queries, over UDP (and TCP with its length prefix)
# Pattern attributes: ok fast overmatch
# Protocol groups: networking ietf_internet_standard
# Specification: RFC 1035 section 4.1 (header, question), RFC 6891 (EDNS OPT)
# Rule: a standard query: any 16-bit ID, flags with QR=0 and opcode 0 (first
#   byte 0x00-0x03, second 0x00/0x10/0x20/0x30), QDCOUNT 1, ANCOUNT and
#   NSCOUNT 0, ARCOUNT 0 or 1, then the question's labels (length byte and
#   name characters) and the QTYPE/QCLASS. Over TCP (RFC 1035 4.2.2) a
#   two-byte length comes first, whose high byte is 0 for any query under
#   256 bytes. l7 semantics drop every NUL byte, so the zero bytes of the
#   length, counts, name's end and QTYPE/QCLASS are gone: what is left is at
#   most three bytes of length and ID, the flags, "\x01" (QDCOUNT), maybe
#   "\x01" (ARCOUNT), the labels, then the low byte of QTYPE and "\x01"
#   (class IN). Binary and loose, so it is marked overmatch and tried after
#   the precise patterns.
# Sample-match: \x5c\x29\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x07example\x04test\x00\x00\x01\x00\x01
# Sample-match: \x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03org\x00\x00\x1c\x00\x01
# Sample-match: \x00\x35\xf1\xdb\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x07example\x04test\x00\x00\x01\x00\x01
# Sample-nomatch: GET / HTTP/1.1\r\n
# Sample-nomatch: \x12\x34\x81\x80\x00\x01\x00\x01

dns
^.?.?.?[\x01-\x03]?[\x10\x20\x30]?\x01\x01?([\x01-\x3f][-0-9a-z_]+)+[\x01-\x3f\xff]\x01
