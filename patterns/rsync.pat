# RSYNC - rsync daemon protocol (rsync://, TCP port 873)
# Pattern attributes: great veryfast fast
# Protocol groups: file-transfer
# Specification: rsync's doc/csprotocol.txt (daemon greeting "@RSYNCD: <version>")
# Rule: both sides of a daemon connection first send the greeting
#   "@RSYNCD: " and a protocol version (major, optionally ".minor"), then
#   optional checksum names; the server's greeting normally comes first.
# Sample-match: @RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n
# Sample-match: @RSYNCD: 31.0\n
# Sample-nomatch: @RSYNCD: OK\n
# Sample-nomatch: rsync version 3.2.7\n

rsync
^@rsyncd: [0-9]+(\.[0-9]+)?[ \x0a]
