# STOMP - Simple (or Streaming) Text Oriented Messaging Protocol 1.0 to 1.2
# Pattern attributes: great veryfast fast
# Protocol groups: networking
# Specification: STOMP Protocol Specification 1.2 (stomp.github.io), "Frames and Headers", "Connecting" (CONNECT/STOMP frame)
# Rule: the client's first frame is CONNECT (or STOMP, 1.1 and later): the
#   command on its own line (LF or CRLF), then either a header line
#   ("accept-version:1.2", "host:/", "login:...", header names are
#   lowercase letters and dashes) or the empty line that ends the headers.
# Sample-match: CONNECT\naccept-version:1.2\nhost:/\nlogin:lab\npasscode:labsecret\n\n\x00
# Sample-match: STOMP\r\naccept-version:1.1,1.2\r\nhost:broker.example.test\r\n\r\n\x00
# Sample-match: CONNECT\n\n\x00
# Sample-nomatch: CONNECT example.test:443 HTTP/1.1\r\n
# Sample-nomatch: CONNECTED\nversion:1.2\n\n\x00

stomp
^(connect|stomp)\x0d?\x0a(\x0d?\x0a|[a-z][a-z-]*:)
