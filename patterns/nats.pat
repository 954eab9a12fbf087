# NATS - NATS messaging client protocol (core NATS, text)
# Pattern attributes: great veryfast fast
# Protocol groups: networking
# Specification: NATS client protocol reference (docs.nats.io, "Client Protocol": INFO, CONNECT)
# Rule: the server speaks first, with INFO and a JSON object on one
#   CRLF-terminated line; the object opens with a quoted option name
#   ("server_id" in nats-server) followed by a colon. The client then
#   sends CONNECT with its own JSON object; either line is accepted at the
#   start of the flow (a capture may miss the server's line).
# Sample-match: INFO {"server_id":"NAF3HDNAUCCFKYSMZEAMDPL6DUBZIN7RDI3ODLUDNVCTP5G6KTNW7KUR","server_name":"l7lab","version":"2.9.10"}\r\n
# Sample-match: CONNECT {"verbose":false,"pedantic":false,"name":"l7lab"}\r\n
# Sample-match: info {"server_id":"x","max_payload":1048576}\r\n
# Sample-nomatch: INFO: server started\r\n
# Sample-nomatch: CONNECT example.test:443 HTTP/1.1\r\n

nats
^(info|connect) \{"[a-z_]+":
