# DNS - Domain Name System messages (also mDNS and LLMNR), over UDP (and TCP with its length prefix)
# Pattern attributes: ok fast overmatch
# Protocol groups: networking ietf_internet_standard
# Specification: RFC 1035 section 4.1 (header, question, resource records), RFC 2136 (UPDATE), RFC 1996 (NOTIFY), RFC 6891 (EDNS OPT), RFC 6762 (mDNS), RFC 4795 (LLMNR)
# Rule: a DNS message opens the flow: a 16-bit ID; flags with opcode QUERY,
#   NOTIFY or UPDATE, as a query or a response (first byte 0x00-0x07,
#   0x20-0x2f, 0x80-0x87 or 0xa0-0xaf; second byte any RA/Z/AD/CD bits and
#   rcode); the four counts; then the first name: labels (a length byte and
#   name characters) and the 16-bit type and class (IN; in mDNS with the
#   unicast-response or cache-flush bit 0x8000). Class CH (3) is left out:
#   type 0x16 and class 3 would read a TLS record header as a question. Over TCP (RFC 1035 4.2.2)
#   a two-byte length comes first. l7 semantics drop every NUL byte, so the
#   zero bytes of the length, ID, counts, the name's end and the type and
#   class are gone: what is left is at most four bytes of length and ID,
#   the flags, one to four count bytes (a question, or for an mDNS
#   announcement without one, the answers), the labels, then the type's
#   low byte (after its high byte for private and DNSSEC types) and 0x01
#   (class IN) or 0x80 0x01 (mDNS). mDNS (UDP 5353) and LLMNR
#   (UDP 5355) are DNS messages on other ports: a payload pattern cannot
#   tell them apart, so they are classified dns. NetBIOS names are DNS-like
#   too; netbios-ns is tried first. A label's length byte must agree
#   with its characters when the label has 1 to 8 of them (www, com,
#   local, _tcp: most labels); a longer one needs at least 9. All 63
#   lengths spelled out would exceed iptables' 8 KiB pattern limit (the
#   l7 regex has no {n} bounds). This keeps a packet that only looks
#   like a question from counting, e.g. Zeek's QUIC test vector
#   "vector-max-size-crash" to UDP 443: a DNS-like header and name whose
#   last label says 7 characters and carries 11. Binary and loose all
#   the same, so it is marked overmatch and tried after the precise
#   patterns.
# Sample-match: \x5c\x29\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x07example\x04test\x00\x00\x01\x00\x01
# Sample-match: \x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03org\x00\x00\x1c\x00\x01
# Sample-match: \x00\x35\xf1\xdb\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x07example\x04test\x00\x00\x01\x00\x01
# Sample-match: \x9c\x43\x84\x10\x00\x01\x00\x00\x00\x04\x00\x01\x03aei\x03mpg\x02de\x00\x00\x2b\x00\x01
# Sample-match: \x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x04\x06gemini\x09_sftp-ssh\x04_tcp\x05local\x00\x00\x21\x80\x01\x00\x00\x00\x78
# Sample-match: \x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05_http\x04_tcp\x05local\x00\x00\x0c\x80\x01
# Sample-match: \x8d\x2e\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04wpad\x00\x00\x01\x00\x01
# Sample-match: \xbb\x50\x28\x00\x00\x01\x00\x01\x00\x03\x00\x01\x09StratoLab\x03org\x00\x00\x06\x00\x01
# Sample-match: \xfa\xa1\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x04mail\x05vladg\x03net\x00\x00\x63\x00\x01
# Sample-match: \x6b\xb3\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01\x07example\x03net\x00\xff\xfe\x00\x01
# Sample-nomatch: GET / HTTP/1.1\r\n
# Sample-nomatch: \x12\x34\x81\x80\x00\x01\x00\x01
# Sample-nomatch: \x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x04test\x00\x00\x01\x00\x02
# Sample-nomatch: \xc6\x10\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x012\x0daaaaaaa-aaaaa\x07aaaaaaaaaaa\x00\x00\x10\x00\x01
# Sample-nomatch: \x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05example\x04test\x00\x00\x01\x00\x01

dns
^.?.?.?.?[\x01-\x07\x20-\x2f\x80-\x87\xa0-\xaf]?[\x01-\x3f\x80-\xbf]?[\x01-\x3f][\x01-\x3f]?[\x01-\x3f]?[\x01-\x3f]?(\x01[-*+/0-9=_a-z]|\x02[-*+/0-9=_a-z][-*+/0-9=_a-z]|\x03[-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z]|\x04[-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z]|\x05[-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z]|\x06[-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z]|\x07[-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z]|\x08[-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z]|[\x09-\x3f][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z][-*+/0-9=_a-z]*)+[\x01\x80\xff]?[\x01-\x41\x63\xf9-\xff]\x80?\x01
