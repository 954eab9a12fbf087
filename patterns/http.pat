# HTTP - Hypertext Transfer Protocol 1.0 and 1.1, cleartext
# Pattern attributes: good veryfast fast
# Protocol groups: web ietf_internet_standard
# Specification: RFC 9112 section 3 (request line) and section 4 (status line); RFC 9110 9.3 (methods); RFC 4918 9 (WebDAV methods)
# Rule: the flow opens with a request line, a method token, one space, a
#   request target without control bytes, one space and "HTTP/1.0" or
#   "HTTP/1.1"; or (a server seen first, e.g. a capture started late) with a
#   status line "HTTP/1.x NNN". Methods are RFC 9110's, PATCH (RFC 5789),
#   the WebDAV and CalDAV ones, PURGE (caches) and QUERY. A client whose
#   request line is malformed or uses another method still gets an HTTP
#   server's status line as the answer: a status line "HTTP/1.x NNN " at the
#   start of a line anywhere in the flow's head is HTTP too. (NOTIFY and
#   M-SEARCH with "HTTP/1.1" are SSDP's, over UDP multicast, and not listed.)
# Sample-match: GET /index.html HTTP/1.1\r\nHost: 198.18.1.1\r\n\r\n
# Sample-match: POST /form HTTP/1.0\r\nContent-Length: 3\r\n\r\na=b
# Sample-match: HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n
# Sample-match: PROPFIND /dav/ HTTP/1.1\r\nDepth: 1\r\n\r\n
# Sample-match: OPTIONSHTTP/1.1\r\nHost: www.google.com\r\n\r\nHTTP/1.0 400 Bad Request\r\n
# Sample-nomatch: GET / HTTP/2.0\r\n\r\n
# Sample-nomatch: SSH-2.0-OpenSSH_9.2\r\n
# Sample-nomatch: hello GET / HTTP/1.1\r\n
# Sample-nomatch: NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n
# Sample-nomatch: RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n

http
^((get|post|head|put|delete|options|connect|trace|patch|propfind|proppatch|mkcol|copy|move|lock|unlock|report|search|mkcalendar|purge|query) [!-~]+ http/1\.[01]|http/1\.[01] [1-5][0-9][0-9])|\x0ahttp/1\.[01] [1-5][0-9][0-9]\x20
