# Syslog - BSD syslog (RFC 3164) and the syslog protocol (RFC 5424), over UDP or TCP
# Pattern attributes: good veryfast fast
# Protocol groups: networking ietf_proposed_standard
# Specification: RFC 5424 section 6 (HEADER), RFC 3164 section 4.1, RFC 6587 section 3.4 (TCP framing)
# Rule: a message starts with the priority "<PRI>" (0-191), then either an
#   RFC 5424 header (version "1", a space, an ISO timestamp or "-") or an
#   RFC 3164 timestamp "Mmm dd hh:mm:ss". Over TCP, octet counting puts the
#   message length and a space in front.
# Sample-match: <13>Nov 22 03:17:04 vm l7lab: hello from the l7mesh lab
# Sample-match: <13>1 2026-11-22T03:17:04.919194+00:00 vm l7lab - - - hello
# Sample-match: 87 <165>1 - host app - - - message
# Sample-nomatch: <html><head>
# Sample-nomatch: <192>Nov 22 03:17:04 host x

syslog
^([1-9][0-9]* )?<([0-9]|[1-9][0-9]|1[0-8][0-9]|19[01])>(1 ([0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]t|- )|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) [ 0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9] )
