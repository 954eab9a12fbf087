# PostgreSQL - PostgreSQL frontend/backend protocol 3.0
# Pattern attributes: great veryfast fast
# Protocol groups: database
# Specification: PostgreSQL documentation, 55.2.1 (Start-up) and 55.7 (StartupMessage, SSLRequest, GSSENCRequest)
# Rule: the client opens with a StartupMessage: Int32 length, Int32 protocol
#   0x00030000, then NUL-terminated parameter names and values, "user" being
#   mandatory (the first one psql and libpq send). It may come after an
#   SSLRequest (length 8, code 80877103 = 0x04d2162f) or GSSENCRequest
#   (0x04d21630) answered with a single "N" or "S". l7 semantics drop the NUL
#   bytes: the length keeps one or two bytes and the protocol becomes
#   "\x03", so what is matched is "\x08\x04\xd2\x16/" and the answer, then
#   "\x03" and a parameter name (user, database, or one that drivers send
#   first: client_encoding, DateStyle, extra_float_digits, TimeZone, ...).
#   An SSLRequest answered "S" is followed by a TLS handshake record (0x16
#   0x03) instead: still a PostgreSQL connection, now encrypted.
# Sample-match: \x00\x00\x00\x08\x04\xd2\x16\x2fN\x00\x00\x00\x3f\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00
# Sample-match: \x00\x00\x00\x29\x00\x03\x00\x00user\x00lab\x00database\x00app\x00\x00
# Sample-match: \x00\x00\x00\x64\x00\x03\x00\x00datestyle\x00ISO, MDY\x00extra_float_digits\x002\x00
# Sample-match: \x00\x00\x00\x08\x04\xd2\x16\x2fS\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03
# Sample-nomatch: \x00\x00\x00\x08\x04\xd2\x16\x2f
# Sample-nomatch: \x00\x00\x00\x08\x04\xd2\x16\x2fN\x16\x03\x01\x02\x00\x01
# Sample-nomatch: \x03user
# Sample-nomatch: \x00\x00\x00\x29\x00\x02\x00\x00user\x00lab\x00

postgresql
^((\x08\x04\xd2\x16[/0][ns]?)?(\x08\x04\xd2\x16[/0][ns]?)?[\x01-\xff][\x01-\xff]?\x03(user|database|options|replication|application_name|client_encoding|datestyle|extra_float_digits|timezone|search_path)|\x08\x04\xd2\x16/s\x16\x03)
