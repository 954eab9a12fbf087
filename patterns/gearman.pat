# Gearman - Gearman job server binary protocol
# Pattern attributes: good veryfast fast
# Protocol groups: networking
# Specification: gearman.org "Protocol" (binary packet header: magic, type, size)
# Rule: every binary packet begins with the magic "\0REQ" (client or worker
#   to server) or "\0RES" (server to client or worker), a 4-byte type and a
#   4-byte data size. A connection starts with a request, so under l7
#   semantics (NULs gone) the flow opens with "req" and the low byte of the
#   type, 1 (CAN_DO) to 42. The administrative text protocol (status,
#   workers, ...) on the same port is not covered.
# Sample-match: \x00REQ\x00\x00\x00\x01\x00\x00\x00\x03rev
# Sample-match: \x00REQ\x00\x00\x00\x07\x00\x00\x00\x42rev\x001e105512-e62c-11f1-946d-0200c6123402\x00bal
# Sample-nomatch: REQUEST / HTTP/1.1\r\n
# Sample-nomatch: \x00RES\x00\x00\x00\x0a\x00\x00\x00\x00

gearman
^req[\x01-\x2a]
