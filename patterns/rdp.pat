# RDP - Remote Desktop Protocol, X.224 connection request
# Pattern attributes: great veryfast fast
# Protocol groups: remote-access
# Specification: [MS-RDPBCGR] 2.2.1.1 (Client X.224 Connection Request PDU) and 2.2.1.2 (Connection Confirm); RFC 1006 (TPKT); ITU-T X.224 13.3 (CR TPDU)
# Rule: the client opens with a TPKT header (version 3, a reserved 0 and a
#   2-byte length, NULs dropped by l7 semantics), the X.224 Connection
#   Request TPDU (length indicator of at least 6, CR code 0xe0, references
#   and class mostly zeros), then the routing cookie "Cookie: mstshash=" or
#   routing token "Cookie: msts=", or an RDP_NEG_REQ (type 1, flags, length
#   8); with neither, the server's TPKT and Connection Confirm (0xd0) follow.
# Sample-match: \x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=l7lab\r\n\x01\x00\x08\x00\x03\x00\x00\x00
# Sample-match: \x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x0b\x00\x00\x00
# Sample-nomatch: \x03\x00\x00\x2b\x26\xf0\x00\x00\x00\x00\x00Cookie: mstshash=l7lab\r\n
# Sample-nomatch: \x16\x03\x01\x00\x2b\x01\x00

rdp
^\x03[\x01-\xff]?[\x01-\xff]?[\x06-\xff]\xe0[\x01-\xff]?[\x01-\xff]?(cookie: msts|\x01[\x01-\x0f]?\x08|\x03[\x01-\xff]?[\x01-\xff]?[\x06-\xff]\xd0)
