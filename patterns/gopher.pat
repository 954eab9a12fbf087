# Gopher - the Internet Gopher protocol, menus
# Pattern attributes: good fast
# Protocol groups: web, file-transfer, ietf_informational
# Specification: RFC 1436 section 3.8 (menu entity: type character, display string, TAB, selector, TAB, host, TAB, port, CRLF); RFC 4266 (gopher URI)
# Rule: the client sends a selector line (printable, possibly with a TAB
#   and search words, or empty) ending in CRLF; a menu answer follows, whose
#   first line is an item: a type character (0-9, +, g, I, T, i, h, s, d,
#   p, ;, :, <), the display string, TAB, the selector, TAB, a host name,
#   TAB, a port number, CRLF. A plain document transfer (type 0 or 9) is
#   just the file's bytes and is not recognised.
# Sample-match: /\r\ni[/]\tTITLE\tnull.host\t1\r\ni\t\tnull.host\t1\r\n
# Sample-match: \r\n1docs\t/docs/\tgopher.example.test\t70\r\n
# Sample-match: /search\tl7mesh\r\n0result\t/r.txt\tgopher.example.test\t70\r\n
# Sample-nomatch: GET / HTTP/1.1\r\nHost: x\r\n\r\nHTTP/1.1 200 OK\r\n
# Sample-nomatch: /\r\nhello from the lab\r\n

gopher
^[\x09 -~]*\x0d\x0a[0-9+gitidhsp;:<][^\x09\x0d\x0a]*\x09[^\x09\x0d\x0a]*\x09[a-z0-9.-]+\x09[0-9]+\x0d\x0a
