# MySQL - MySQL and MariaDB client/server protocol
# Pattern attributes: great veryfast fast
# Protocol groups: database
# Specification: MySQL client/server protocol, "Connection Phase": Protocol::HandshakeV10
# Rule: the server speaks first with a packet (3-byte little-endian length,
#   sequence id 0) holding the Initial Handshake: protocol version 10
#   (0x0a), the server version as "major.minor.patch..." (MariaDB prefixes
#   "5.5.5-"), thread id, salt, capabilities and, at the end, the name of the
#   default authentication plugin. NUL bytes vanish under l7 semantics, so
#   the length keeps one or two bytes and sequence 0 is gone; the pattern
#   wants 0x0a, a dotted version and a known plugin name in that packet.
#   Servers before 5.5 name no plugin: their greeting ends with the salt, 8
#   then 12 printable characters (the server draws them from 33-126) around
#   the capabilities, character set and status (at most 5 bytes left), and
#   the packet ends there ($, checked at each packet's end).
# Sample-match: \x5b\x00\x00\x00\x0a5.5.5-10.11.19-MariaDB-0+deb12u1\x00\x04\x00\x00\x00$;9mwoc(\x00\xfe\xf7\x08\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00:,js@)k}tmfw\x00mysql_native_password\x00
# Sample-match: \x4a\x00\x00\x00\x0a8.0.35\x00\x08\x00\x00\x00abcdefgh\x00\xff\xff\xff\x02\x00\xff\xdf\x15\x00ijklmnopqrst\x00caching_sha2_password\x00
# Sample-match: \x34\x00\x00\x00\x0a5.0.54\x00\x5e\x00\x00\x00>~$4uth,\x00\x2c\xa2\x21\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00>612IWZ>fhWX\x00
# Sample-match: \x38\x00\x00\x00\x0a5.1.67-log\x00\x1a\x00\x00\x004\\SlCL2T\x00\xff\xf7\x21\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x004C4{1|Bp1?(L\x00
# Sample-nomatch: \x34\x00\x00\x00\x0a5.0.54\x00\x5e\x00\x00\x00>~$4uth,\x00\x2c\xa2\x21\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00>612IWZ>f\x01\x02\x03\x00
# Sample-nomatch: \x4a\x00\x00\x00\x0a8.0.35\x00\x08\x00\x00\x00
# Sample-nomatch: \x4a\x00\x00\x00\x0aversion 8 mysql_native_password

mysql
^.?.?\x0a[0-9][0-9]?\.[0-9][0-9]?\.[0-9][0-9]?(.*(mysql_native_password|caching_sha2_password|sha256_password|client_ed25519|auth_gssapi_client|mysql_clear_password)|[-.+_~0-9a-z]*.?.?.?.?[!-~][!-~][!-~][!-~][!-~][!-~][!-~][!-~].?.?.?.?.?[!-~][!-~][!-~][!-~][!-~][!-~][!-~][!-~][!-~][!-~][!-~][!-~]$)
