# SIP - Session Initiation Protocol (SIP/2.0), over UDP or TCP
# Pattern attributes: great veryfast fast
# Protocol groups: voip ietf_proposed_standard
# Specification: RFC 3261 section 7.1 (Request-Line) and 7.2 (Status-Line), RFC 3262/3265/3428/3515/3903/6086 (methods)
# Rule: the flow opens with a request line: a SIP method, a space, a sip: or
#   sips: Request-URI, a space and "SIP/2.0" CRLF; or (replies seen first)
#   with a status line "SIP/2.0 NNN ".
# Sample-match: INVITE sip:service@198.18.31.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.31.2:5061\r\n
# Sample-match: REGISTER sips:registrar.example.test SIP/2.0\r\n
# Sample-match: SIP/2.0 180 Ringing\r\n
# Sample-nomatch: INVITE http://example.test/ HTTP/1.1\r\n
# Sample-nomatch: GET / HTTP/1.1\r\n

sip
^((invite|register|options|ack|bye|cancel|subscribe|notify|message|info|prack|update|refer|publish) sips?:[!-~]+ sip/2\.0\x0d\x0a|sip/2\.0 [1-6][0-9][0-9] )
