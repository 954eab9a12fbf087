# AMQP - Advanced Message Queuing Protocol 0-8, 0-9-1 and 1.0
# Pattern attributes: great veryfast fast
# Protocol groups: networking
# Specification: AMQP 0-9-1 section 4.2.2 (protocol header); OASIS AMQP 1.0 part 2.2 (protocol header) and 5.3 (SASL layer)
# Rule: the client opens with an 8-byte protocol header: "AMQP" then, for
#   0-9-1, 0 0 9 1; for 0-8, 1 1 8 0 (or 1 1 9 1 for 0-9); for 1.0 a
#   protocol id (0 AMQP, 2 TLS, 3 SASL) and version 1 0 0. With the NULs
#   gone that is "AMQP" followed by "\x09\x01" or by "\x01", "\x02\x01" or
#   "\x03\x01".
# Sample-match: AMQP\x00\x00\x09\x01
# Sample-match: AMQP\x03\x01\x00\x00
# Sample-match: AMQP\x00\x01\x00\x00
# Sample-nomatch: AMQP is a protocol\r\n
# Sample-nomatch: AMQ\x00\x00\x09\x01

amqp
^amqp(\x09\x01|[\x02\x03]?\x01)
