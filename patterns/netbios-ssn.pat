# NetBIOS-SSN - NetBIOS Session Service over TCP (port 139), session request
# Pattern attributes: great veryfast fast
# Protocol groups: networking, file-transfer, ietf_internet_standard
# Specification: RFC 1002 section 4.3.1 (session header), 4.3.2 (SESSION REQUEST); RFC 1001 section 14.1 (first-level name encoding)
# Rule: the client opens with a SESSION REQUEST: type 0x81, flags (0, or 1
#   for the length extension bit), a 16-bit length (68 without scope), then
#   the called and the calling NetBIOS name, each in first-level encoding:
#   length 0x20, 32 characters 'A'-'P', the empty scope (0). With NUL bytes
#   dropped: "\x81", up to two bytes of flags/length, "\x20" and 32 letters
#   twice. SMB that follows (SMB1 or SMB2 in session messages, type 0) is
#   classified by this opening; SMB on TCP 445 starts without it (smb).
# Sample-match: \x81\x00\x00\x44\x20EMDHEMEBECFDFCFGCACACACACACACACA\x00\x20EMDHEMEBECEDEMEJCACACACACACACAAA\x00
# Sample-match: \x81\x00\x00\x44\x20CKFDENECFDEFFCFGEFFCCACACACACACA\x00\x20EMDHEMEBECEDEMEJCACACACACACACAAA\x00
# Sample-nomatch: \x00\x00\x00\x44\xfeSMB\x40\x00
# Sample-nomatch: \x81\x00\x00\x44\x20EMDHEMEBECFDFCFGCACACACA\x00

netbios-ssn
^\x81.?.?\x20[a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p]\x20[a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p][a-p]
