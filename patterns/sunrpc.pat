# SunRPC - ONC RPC (Sun RPC) version 2 calls to Sun-registered programs (portmapper/rpcbind, NFS, mountd, NLM, ...)
# Pattern attributes: good fast
# Protocol groups: networking, ietf_internet_standard
# Specification: RFC 5531 section 9 (call message: xid, msg_type CALL 0, rpcvers 2, prog, vers, proc), 11 (record marking over TCP), appendix (program numbers 100000-100999 registered by Sun); RFC 1833 (portmapper/rpcbind)
# Rule: a call opens the flow. Over TCP a record mark comes first (last
#   fragment bit 0x80 and a 31-bit length, mostly zeros). Then the
#   transaction id (4 bytes, 0 to 4 left after NULs vanish), msg_type 0
#   (gone), RPC version 2, and the program number: Sun's registered range
#   100000-100999 is 0x000186a0-0x00018a87, so "\x01" and 0x86-0x8a, then
#   the low byte (gone if 0), then the program version 1 to 15 (three
#   zero bytes gone). Calls to other program ranges are not recognised.
# Sample-match: \x80\x00\x00\x5c\x05\xe7\x73\x4b\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01\x86\xa0\x00\x00\x00\x04\x00\x00\x00\x03
# Sample-match: \x5f\x3a\x11\x02\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01\x86\xa3\x00\x00\x00\x03\x00\x00\x00\x00
# Sample-nomatch: \x80\x00\x00\x30\x05\xe7\x73\x4b\x00\x00\x00\x01\x00\x00\x00\x00
# Sample-nomatch: \x05\xe7\x73\x4b\x00\x00\x00\x00\x00\x00\x00\x03\x00\x01\x86\xa0\x00\x00\x00\x04

sunrpc
^(\x80.?.?.?)?.?.?.?.?\x02\x01[\x86-\x8a].?[\x01-\x0f]
