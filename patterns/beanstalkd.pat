# Beanstalkd - the beanstalkd work-queue protocol (text, TCP port 11300)
# Pattern attributes: good veryfast fast
# Protocol groups: networking
# Specification: beanstalkd doc/protocol.txt (producer and worker commands, CRLF-terminated)
# Rule: a client's first command, at the start of the flow: "put <pri>
#   <delay> <ttr> <bytes>" (four integers), "reserve" or
#   "reserve-with-timeout <seconds>", "list-tubes", "list-tubes-watched",
#   "stats-tube <tube>", "stats-job <id>" or "peek-ready"; or "use <tube>"
#   / "watch <tube>" answered by the server's "USING <tube>" /
#   "WATCHING <count>". Tube names use letters, digits and - + / ; . $ _ ( ).
#   Plain "stats" is left out: memcached has the same command.
# Sample-match: put 0 0 60 25\r\nhello from the l7mesh lab\r\n
# Sample-match: use lab\r\nUSING lab\r\n
# Sample-match: watch jobs\r\nWATCHING 2\r\n
# Sample-match: reserve-with-timeout 2\r\n
# Sample-nomatch: use strict;\r\n
# Sample-nomatch: stats\r\n
# Sample-nomatch: put /index.html HTTP/1.1\r\n

beanstalkd
^(put [0-9]+ [0-9]+ [0-9]+ [0-9]+\x0d\x0a|(use [a-z0-9+/;.$_()-]+\x0d\x0ausing|watch [a-z0-9+/;.$_()-]+\x0d\x0awatching) |reserve(-with-timeout [0-9]+)?\x0d\x0a|list-tubes(-watched)?\x0d\x0a|stats-(tube|job) [!-~]+\x0d\x0a|peek-ready\x0d\x0a)
