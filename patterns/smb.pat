# SMB - Server Message Block 2/3 (and the SMB1 negotiate that may precede it) over TCP 445
# Pattern attributes: great veryfast fast
# Protocol groups: file-transfer networking
# Specification: [MS-SMB2] 2.1 (transport: 4-byte Direct TCP header) and 2.2.1 (SMB2 packet header); [MS-SMB] 2.2.3.1 (SMB1 header)
# Rule: each message has a 4-byte transport header (a zero byte and a
#   24-bit length, at most 3 bytes left once l7 semantics drop the NULs),
#   then the protocol id: 0xFE "SMB" with the SMB2 header's StructureSize 64
#   ("@"), or 0xFF "SMB" with command 0x72 (SMB1 NEGOTIATE, "r"), which
#   older clients send first to offer SMB2 dialects.
# Sample-match: \x00\x00\x00\xe6\xfeSMB\x40\x00\x1f\x00\x24\x00\x05\x00
# Sample-match: \x00\x00\x00\x85\xffSMBr\x00\x00\x00\x00\x18\x53\xc8
# Sample-nomatch: \x00\x00\x00\xe6\xfeSMX\x40\x00
# Sample-nomatch: \x00\x00\x00\x85\xffSMBs\x00

smb
^.?.?.?(\xfesmb@|\xffsmbr)
