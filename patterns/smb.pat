# SMB - Server Message Block 1, 2 and 3 over TCP (445, or 139 after the NetBIOS session request)
# Pattern attributes: great veryfast fast
# Protocol groups: file-transfer networking
# Specification: [MS-SMB2] 2.1 (transport: 4-byte Direct TCP header), 2.2.1 (SMB2 packet header), 2.2.41 (transform header), 2.2.42 (compression transform header); [MS-SMB] 2.2.3.1 (SMB1 header)
# Rule: each message has a 4-byte transport header (a zero byte and a
#   24-bit length, at most 3 bytes left once l7 semantics drop the NULs),
#   then the protocol id: 0xFE "SMB" with the SMB2 header's StructureSize 64
#   ("@"); 0xFF "SMB" (SMB1, any command: the NEGOTIATE that older clients
#   send first to offer SMB2 dialects, or a whole SMBv1 session, also one
#   caught mid-stream); 0xFD "SMB" (an SMB3 encrypted message) or 0xFC "SMB"
#   (an SMB 3.1.1 compressed one), which a connection picked up late opens
#   with. On TCP 139 a connection opens with the NetBIOS session request
#   (netbios-ssn) instead.
# Sample-match: \x00\x00\x00\xe6\xfeSMB\x40\x00\x1f\x00\x24\x00\x05\x00
# Sample-match: \x00\x00\x00\x85\xffSMBr\x00\x00\x00\x00\x18\x53\xc8
# Sample-match: \x00\x00\x00\x9a\xffSMBs\x00\x00\x00\x00\x18\x07\xc8
# Sample-match: \x00\x00\x01\x2c\xfdSMB\x8a\x1c\x4e\x02\x77\x31
# Sample-nomatch: \x00\x00\x00\xe6\xfeSMX\x40\x00
# Sample-nomatch: \x00\x00\x00\xe6\xfeSMB\x41\x00
# Sample-nomatch: SMB\x72\x00

smb
^.?.?.?(\xfesmb@|[\xfc\xfd\xff]smb)
