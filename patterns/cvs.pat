# CVS - Concurrent Versions System client/server protocol over pserver (TCP 2401)
# Pattern attributes: great veryfast fast
# Protocol groups: file-transfer
# Specification: the CVS client/server protocol manual (cvsclient), section "Connection and Authentication" (pserver)
# Rule: a pserver connection opens with the client's "BEGIN AUTH REQUEST",
#   "BEGIN VERIFICATION REQUEST" (check the password only) or "BEGIN GSSAPI
#   REQUEST", each on its own line (LF), followed by the repository path,
#   user name and scrambled password in the first two cases.
# Sample-match: BEGIN AUTH REQUEST\n/srv/cvs\nanonymous\nA\nEND AUTH REQUEST\n
# Sample-match: BEGIN VERIFICATION REQUEST\n/srv/cvs\n
# Sample-match: BEGIN GSSAPI REQUEST\n
# Sample-nomatch: BEGIN TRANSACTION\n
# Sample-nomatch: I LOVE YOU\n

cvs
^begin (auth|verification|gssapi) request\x0a
