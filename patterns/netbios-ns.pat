# NetBIOS-NS - NetBIOS Name Service over UDP (port 137)
# Pattern attributes: great veryfast fast
# Protocol groups: networking, ietf_internet_standard
# Specification: RFC 1002 section 4.2.1 (header), 4.2.12 (name query), 4.2.2 (registration), 4.2.17 (node status); RFC 1001 section 14.1 (first-level name encoding)
# Rule: a name service request: a 16-bit transaction id, the flags (opcode
#   query 0, registration 5, release 6, refresh 8/9 in the high bits; RD,
#   B), QDCOUNT 1, ANCOUNT/NSCOUNT 0, ARCOUNT 0 or 1, then the question name
#   in first-level encoding: length 0x20 and 32 characters 'A'-'P' (each
#   half-byte of the 16-byte NetBIOS name plus 'A'), the empty scope (0),
#   QTYPE NB (0x0020) or NBSTAT (0x0021) and QCLASS IN (1). NUL bytes
#   dropped by l7 semantics leave at most two bytes of id, the non-zero
#   flag bytes, "\x01" (QDCOUNT), maybe "\x01" (ARCOUNT), "\x20", the 32
#   letters, "\x20" or "\x21", "\x01". It is tried before the looser dns
#   pattern, which also accepts these bytes.
# Sample-match: \x5e\x15\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x20EMDHEMEBECFDFCFGCACACACACACACAAA\x00\x00\x20\x00\x01
# Sample-match: \x06\x23\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00\x00\x21\x00\x01
# Sample-match: \x12\x34\x29\x10\x00\x01\x00\x00\x00\x00\x00\x01\x20EMDHEMEBECFDFCFGCACACACACACACAAA\x00\x00\x20\x00\x01\xc0\x0c
# Sample-nomatch: \x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x04test\x00\x00\x01\x00\x01
# Sample-nomatch: \x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x20EMDHEMEBECFDFCFGCACACACACACACAZZ\x00\x00\x20\x00\x01

netbios-ns
^.?.?[\x01\x28\x29\x30\x31\x40\x41\x48\x49]?\x10?\x01\x01?\x20[a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][\x20\x21]\x01
