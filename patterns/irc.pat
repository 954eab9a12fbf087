# IRC - Internet Relay Chat, client to server
# Pattern attributes: good veryfast fast
# Protocol groups: chat ietf_informational
# Specification: RFC 2812 section 3.1 (connection registration), IRCv3 CAP
# Rule: a client registers with NICK and USER (optionally after CAP LS and
#   PASS); the flow begins with one of those commands in its RFC 2812 form:
#   "NICK nick" or "USER user mode unused :realname", each ending in CRLF.
#   Servers that speak first send a "NOTICE AUTH" or "NOTICE *" line, with
#   or without a prefix; that opening is accepted too.
# Sample-match: NICK labnick\r\nUSER labnick localhost 198.18.17.1 :l7mesh lab\r\n
# Sample-match: CAP LS 302\r\nNICK alice\r\nUSER alice 0 * :Alice\r\n
# Sample-match: :irc.example.test NOTICE * :*** Looking up your hostname...\r\n
# Sample-match: USER bob 8 * :Bob\r\n
# Sample-nomatch: NICK\r\n
# Sample-nomatch: GET / HTTP/1.1\r\n

irc
^((cap ls( [0-9]+)?|pass [!-~]+)\x0d\x0a)*(nick [!-~]+\x0d\x0a|user [!-~]+ [!-~]+ [!-~]+ :|(:[!-~]+ )?notice (auth|\*) :)
