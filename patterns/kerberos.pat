# Kerberos - Kerberos V5 KDC requests (AS-REQ, TGS-REQ), over UDP or TCP
# Pattern attributes: great veryfast fast
# Protocol groups: networking secure ietf_proposed_standard
# Specification: RFC 4120 section 5.4.1 (KDC-REQ) and 7.2.2 (TCP: 4-byte length prefix); X.690 (DER)
# Rule: a request to the KDC is AS-REQ [APPLICATION 10] (0x6a) or TGS-REQ
#   [APPLICATION 12] (0x6c) with a DER length, the KDC-REQ SEQUENCE (0x30,
#   length), then pvno [1] INTEGER 5 (a1 03 02 01 05) and msg-type [2]
#   INTEGER 10 or 12 (a2 03 02 01 0a|0c). Over TCP a 4-byte big-endian
#   length comes first; its zero bytes vanish under l7 semantics, leaving
#   at most three.
# Sample-match: \x6a\x81\xb4\x30\x81\xb1\xa1\x03\x02\x01\x05\xa2\x03\x02\x01\x0a\xa3\x1a\x30\x18
# Sample-match: \x00\x00\x03\xf1\x6c\x82\x03\xed\x30\x82\x03\xe9\xa1\x03\x02\x01\x05\xa2\x03\x02\x01\x0c\xa3\x82
# Sample-nomatch: \x6a\x81\xb4\x30\x81\xb1\xa1\x03\x02\x01\x04\xa2\x03\x02\x01\x0a
# Sample-nomatch: \x6b\x81\xb4\x30\x81\xb1\xa1\x03\x02\x01\x05\xa2\x03\x02\x01\x0b

kerberos
^.?.?.?[\x6a\x6c][\x01-\xff]?[\x01-\xff]?[\x01-\xff]?\x30[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?\xa1\x03\x02\x01\x05\xa2\x03\x02\x01[\x0a\x0c]
