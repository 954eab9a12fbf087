# MQTT - Message Queuing Telemetry Transport 3.1, 3.1.1 and 5.0
# Pattern attributes: great veryfast fast
# Protocol groups: networking
# Specification: MQTT 3.1.1 (OASIS) section 3.1 and MQTT 5.0 section 3.1 (CONNECT)
# Rule: a client's first packet is CONNECT: byte 0x10, the remaining length
#   (1 to 4 bytes, all but the last with the top bit set), then the protocol
#   name as a two-byte length and "MQTT" (level 4 or 5) or "MQIsdp" (level
#   3, MQTT 3.1). The length's high byte 0 is dropped by l7 semantics, so
#   the name appears right after its low byte.
# Sample-match: \x10\x17\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x14\x00\x07lab-sub
# Sample-match: \x10\x13\x00\x04MQTT\x04\x02\x00\x3c\x00\x07lab-pub
# Sample-match: \x10\x85\x01\x00\x06MQIsdp\x03\x02
# Sample-nomatch: \x10\x13\x00\x04MQTX\x04
# Sample-nomatch: \x20\x02\x00\x00

mqtt
^\x10[\x80-\xff]?[\x80-\xff]?[\x80-\xff]?[\x01-\x7f](\x04mqtt[\x04\x05]|\x06mqisdp\x03)
