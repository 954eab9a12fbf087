# DHCP - Dynamic Host Configuration Protocol (and BOOTP) for IPv4
# Pattern attributes: great veryfast fast
# Protocol groups: networking ietf_draft_standard
# Specification: RFC 2131 section 2 (message format) and 3 (the magic cookie), RFC 951 (BOOTP), RFC 2132 (options)
# Rule: a BOOTP message: op 1 (request) or 2 (reply), htype 1 (Ethernet),
#   hlen 6, hops, the transaction id and the other fixed fields (236 bytes
#   in all, mostly zeros: addresses, client hardware address padding,
#   sname and file), then DHCP's magic cookie 99.130.83.99 (0x63825363)
#   before the options. l7 semantics drop the NUL bytes, so the fixed part
#   shrinks to whatever is not zero; the pattern wants op, htype and hlen at
#   the start and the cookie anywhere after them. DHCPv6 (UDP 546/547) is
#   another protocol with no such constant and is not matched.
# Sample-match: \x01\x01\x06\x00\x3a\x1b\x9c\x55\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xc6\x12\x44\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x63\x82\x53\x63\x35\x01\x01\xff
# Sample-match: \x02\x01\x06\x00\x3a\x1b\x9c\x55\x00\x00\x00\x00\x00\x00\x00\x00\xc6\x12\x44\x32\xc6\x12\x44\x01\x00\x00\x00\x00\x02\x00\xc6\x12\x44\x02\x00\x00\x63\x82\x53\x63\x35\x01\x05\x36\x04\xc6\x12\x44\x01\xff
# Sample-nomatch: \x01\x01\x06\x00\x3a\x1b\x9c\x55\x00\x00\x80\x00\x02\x00\xc6\x12\x44\x02\xff
# Sample-nomatch: \x03\x01\x06\x00\x3a\x1b\x9c\x55\x63\x82\x53\x63\x35\x01\x01\xff

dhcp
^[\x01\x02]\x01\x06.*\x63\x82\x53\x63
