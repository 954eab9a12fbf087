# SSH - Secure Shell, protocol versions 1.x and 2.0
# Pattern attributes: great veryfast fast
# Protocol groups: remote-access secure ietf_proposed_standard
# Specification: RFC 4253 section 4.2 (protocol version exchange)
# Rule: both sides open with an identification string "SSH-protoversion-";
#   the server usually sends it first, so the flow begins with "SSH-" and a
#   version of the form 1.x or 2.0.
# Sample-match: SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n
# Sample-match: SSH-1.99-dropbear_2022.83\r\n
# Sample-nomatch: GET /SSH-2.0 HTTP/1.1\r\n
# Sample-nomatch: SSH-3.0-future\r\n

ssh
^ssh-(1\.[0-9]+|2\.0)-
