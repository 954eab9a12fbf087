# BitTorrent - BitTorrent peer wire protocol, plain handshake
# Pattern attributes: great veryfast fast
# Protocol groups: p2p file-transfer
# Specification: BEP 3 ("The BitTorrent Protocol Specification", peer protocol handshake)
# Rule: a peer connection opens with the handshake: the byte 19 (0x13)
#   followed by the 19 characters "BitTorrent protocol", then 8 reserved
#   bytes, the info hash and the peer id. Connections using Message Stream
#   Encryption (an obfuscated Diffie-Hellman exchange) have no cleartext
#   header and are not matched; neither are DHT, trackers or uTP.
# Sample-match: \x13BitTorrent protocol\x00\x00\x00\x00\x00\x10\x00\x04\xde\x28\xa6\x05
# Sample-nomatch: \x12BitTorrent protocol\x00
# Sample-nomatch: BitTorrent protocol\x00

bittorrent
^\x13bittorrent protocol
