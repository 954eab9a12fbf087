# BitTorrent - BitTorrent peer wire protocol (plain handshake) and the Mainline DHT
# Pattern attributes: great veryfast fast
# Protocol groups: p2p file-transfer
# Specification: BEP 3 ("The BitTorrent Protocol Specification", peer protocol handshake); BEP 5 (DHT protocol, KRPC); BEP 42 (the "ip" key)
# Rule: a peer connection opens with the handshake: the byte 19 (0x13)
#   followed by the 19 characters "BitTorrent protocol", then 8 reserved
#   bytes, the info hash and the peer id. A DHT flow (UDP) opens with a KRPC
#   message, a bencoded dictionary whose keys are sorted: a query ("a", the
#   arguments, first) or a response ("r") whose dictionary starts with the
#   sender's 20-byte node "id", optionally after a response's "ip" key
#   (BEP 42); or an error ("e", a list starting with the error code).
#   Connections using Message Stream Encryption (an obfuscated
#   Diffie-Hellman exchange) have no cleartext header and are not matched;
#   neither are uTP (its 20-byte header has no reliable constant) nor
#   trackers (HTTP).
# Sample-match: \x13BitTorrent protocol\x00\x00\x00\x00\x00\x10\x00\x04\xde\x28\xa6\x05
# Sample-match: d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe
# Sample-match: d1:rd2:id20:mnopqrstuvwxyz1234565:nodes0:e1:t2:aa1:y1:re
# Sample-match: d2:ip6:\xc6\x12\x00\x01\x1a\xe11:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re
# Sample-match: d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee
# Sample-nomatch: \x12BitTorrent protocol\x00
# Sample-nomatch: BitTorrent protocol\x00
# Sample-nomatch: d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe
# Sample-nomatch: d8:announce35:http://tracker.example.test/announcee

bittorrent
^(\x13bittorrent protocol|d(2:ip[0-9][0-9]?:.+)?1:[ar]d2:id20:|d1:eli[0-9]+e)
