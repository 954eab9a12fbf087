# SNMP - Simple Network Management Protocol v1, v2c and v3
# Pattern attributes: good veryfast fast
# Protocol groups: networking ietf_internet_standard
# Specification: RFC 1157 section 4 (v1 Message), RFC 1901/3416 (v2c PDUs), RFC 3412 section 6 (v3 message), X.690 (BER)
# Rule: a message is a BER SEQUENCE (0x30 and a length of 1-3 bytes), then
#   the version as INTEGER 0x02 0x01 and 0 (v1, a NUL that l7 semantics
#   drop), 1 (v2c) or 3 (v3). v1/v2c continue with the community as an
#   OCTET STRING (0x04, length, text) and a PDU tag 0xa0-0xa8 (Get,
#   GetNext, Response, Set, Trap, GetBulk, Inform, SNMPv2-Trap, Report),
#   whose length and the request-id INTEGER (0x02) follow; v3 continues
#   with the msgGlobalData SEQUENCE (0x30).
# Sample-match: \x30\x37\x02\x01\x00\x04\x06public\xa0\x2a\x02\x04\x07\x26\x74\xa2\x02\x01\x00\x02\x01\x00\x30\x1c
# Sample-match: \x30\x29\x02\x01\x01\x04\x06public\xa0\x1c\x02\x04\x6a\x73\x62\xc2\x02\x01\x00
# Sample-match: \x30\x3e\x02\x01\x03\x30\x11\x02\x04\x12\x34\x56\x78
# Sample-nomatch: \x30\x29\x02\x01\x01\x04\x06public\x30\x1c
# Sample-nomatch: \x30\x82\x01\x0a\x02\x82\x01\x01\x00

snmp
^\x30[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?\x02\x01(\x01?\x04[\x01-\x7f][ -~]*[\xa0-\xa8][\x01-\xff]?[\x01-\xff]?[\x01-\xff]?\x02|\x03\x30)
