# Finger - the Finger user information protocol (TCP 79)
# Pattern attributes: good veryfast fast
# Protocol groups: networking, ietf_draft_standard
# Specification: RFC 1288 section 2.3 (query: optional "/W", a user name or nothing, CRLF) and 2.5 (answers); the BSD finger output format
# Rule: the client's query line: an optional "/W" (verbose), a user name
#   (or user@host for forwarding, or nothing), CRLF; then the answer as
#   BSD-derived fingerd servers give it for a user: "Login: <name>" padded
#   with spaces and TABs up to "Name: ". Other answers (no such user, the
#   list of logged-in users, other servers' formats) are not recognised;
#   the query alone is too plain to be a signature.
# Sample-match: nobody\r\nLogin: nobody         \t\t\tName: nobody\r\nDirectory: /nonexistent\r\n
# Sample-match: /W lab\r\nLogin: lab\t\t\tName: Lab User\r\n
# Sample-nomatch: nobody\r\n
# Sample-nomatch: USER lab\r\n331 Password required\r\n

finger
^(/w *)?[a-z0-9._@-]*\x0d\x0alogin: +[!-~]+[\x09 ]+name: 
