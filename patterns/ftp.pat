# FTP - File Transfer Protocol, control connection
# Pattern attributes: good veryfast fast
# Protocol groups: file-transfer ietf_internet_standard
# Specification: RFC 959 section 4.2 (replies) and 5.4 (sequencing), RFC 2389 (FEAT)
# Rule: the server speaks first with a 220 greeting; the flow is FTP when the
#   greeting names FTP, or when the client's first command after it is one
#   that opens an FTP session (USER, AUTH, FEAT, SYST, OPTS). SMTP also greets
#   with 220, but its clients answer EHLO/HELO, which this does not accept.
#   A control connection picked up after its greeting (a capture or an edge
#   that came late) opens with a client command that only FTP has (PASV,
#   PORT, RETR, CWD, TYPE, ... and USER/PASS, which POP3 answers with +OK)
#   answered by a three-digit reply.
# Sample-match: 220 (vsFTPd 3.0.3)\r\n
# Sample-match: 220 Welcome\r\nUSER anonymous\r\n
# Sample-match: 220-Site banner\r\n220 Ready\r\nFEAT\r\n
# Sample-match: PASV\r\n227 Entering Passive Mode (164,107,123,6,183,187)\r\n
# Sample-nomatch: PASV\r\n+OK\r\n
# Sample-nomatch: USER x\r\n+OK send PASS\r\n
# Sample-nomatch: 220 mail.example.test ESMTP Postfix\r\nEHLO client\r\n
# Sample-nomatch: 200 OK\r\nUSER x\r\n

ftp
^(220[\x09-\x0d -~]*(ftp|\x0d\x0a(user|auth|feat|syst|opts)[ \x0d])|(user|pass|pasv|epsv|port|eprt|retr|stor|cwd|pwd|syst|feat|type|size|mdtm|mlsd|nlst|rest)[\x09\x20-\x7e]*\x0d\x0a[1-5][0-9][0-9][ -])
