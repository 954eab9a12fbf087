# tinc - tinc VPN meta protocol (TCP 655), connection start
# Pattern attributes: great veryfast fast
# Protocol groups: vpn, secure
# Specification: tinc's doc "Security" / protocol description (tinc.texi, "The meta-protocol": ID, METAKEY, CHALLENGE); protocol version 17
# Rule: the connecting daemon opens with the ID request, in clear text: the
#   request number 0, its node name (letters, digits, underscore) and the
#   protocol version 17 (tinc 1.0), or 17.minor (tinc 1.1: "17.7"), then
#   LF. The other side answers with its own ID line, then METAKEY (request
#   1) and the encrypted part follow.
# Sample-match: 0 cli 17\n0 srv 17\n1 429 672 0 0 4AE359C4\n
# Sample-match: 0 node_b 17.7\n
# Sample-nomatch: 0 cli 18\n
# Sample-nomatch: 10 cli 17\n

tinc
^0 [a-z0-9_]+ 17(\.[0-9]+)?\x0a
