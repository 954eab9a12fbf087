# OpenVPN - OpenVPN in TLS mode (UDP or TCP), control channel start
# Pattern attributes: good veryfast fast
# Protocol groups: vpn secure
# Specification: OpenVPN protocol documentation (doc/doxygen/doc_protocol_overview.h, ssl_pkt.h): packet opcodes and reliability layer
# Rule: a TLS-mode session begins with P_CONTROL_HARD_RESET_CLIENT_V2
#   (opcode 7, key id 0: byte 0x38) and the client's 8-byte session id;
#   the server answers P_CONTROL_HARD_RESET_SERVER_V2 (0x40), its own
#   session id, an ACK array of one entry (0x01) and the client's session id.
#   Over TCP each packet has a 2-byte length in front (high byte 0). The
#   ack count and packet ids are zeros that l7 semantics drop, and the
#   session ids may lose bytes too, so each is at most 8 bytes here.
#   Sessions with tls-auth/tls-crypt put an HMAC or encryption before those
#   fields and are not matched; static-key mode has no cleartext header.
#   "0 to N bytes" is written as optional chunks of 16/8/4/2/1 dots, not as
#   N times ".?", so that a backtracking matcher tries a few dozen splits
#   instead of 2^N (and the kernel's limit of 9 groups holds).
# Sample-match: \x38\x99\x1a\xba\x1b\x90\xad\x01\x6a\x00\x00\x00\x00\x00\x40\x0b\x7a\x68\x84\x72\x1a\xb8\xf2\x01\x00\x00\x00\x00\x99\x1a\xba\x1b\x90\xad\x01\x6a\x00\x00\x00\x00
# Sample-match: \x00\x0e\x38\x2b\xe9\xc7\xa1\xf8\x69\x39\xb6\x00\x00\x00\x00\x00\x00\x1a\x40\xba\x29\xd9\xfd\x05\x5b\x9e\xcf\x01\x00\x00\x00\x00\x2b\xe9
# Sample-nomatch: \x38\x99\x1a\xba\x1b\x90\xad\x01\x6a\x00\x00\x00\x00\x00\x48\x0b\x7a\x68\x84\x72\x1a\xb8\xf2\x01
# Sample-nomatch: \x16\x03\x01\x01\x10\x01\x00\x01\x0c\x03\x03

openvpn
^.?\x38(....)?(..)?(..)?.?\x40(....)?(..)?.?.?\x01
