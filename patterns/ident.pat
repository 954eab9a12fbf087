# Ident - Identification Protocol (TCP 113)
# Pattern attributes: great veryfast fast
# Protocol groups: networking, ietf_proposed_standard
# Specification: RFC 1413 section 5 (query) and 6 (response syntax: USERID, ERROR)
# Rule: the client's query is two port numbers separated by a comma (with
#   optional spaces) and CRLF; the server answers with the same two ports,
#   a colon and the response type USERID or ERROR followed by a colon.
#   Both are required: a query alone is only digits and a comma.
# Sample-match: 113 , 41116\r\n113,41116:USERID:UNIX:nobody\r\n
# Sample-match: 8000 , 40000\r\n8000,40000:ERROR:NO-USER\r\n
# Sample-match: 6193, 23\r\n6193, 23 : USERID : UNIX : stjohns\r\n
# Sample-nomatch: 8000 , 40000\r\n
# Sample-nomatch: 1,2\r\n1,2 OK\r\n

ident
^ *[0-9]+ *, *[0-9]+ *\x0d?\x0a *[0-9]+ *, *[0-9]+ *: *(userid|error) *:
