# Telnet - Telnet protocol, option negotiation
# Pattern attributes: good veryfast fast
# Protocol groups: remote-access ietf_internet_standard
# Specification: RFC 854 (IAC commands), RFC 855 (option negotiation)
# Rule: Telnet peers open by negotiating options: IAC (0xff) followed by
#   WILL/WONT/DO/DONT (0xfb-0xfe) and an option code, whichever side speaks
#   first. The flow starts with one such command and a second IAC command
#   (negotiation or SB 0xfa) follows right after it. The option byte may be
#   0 (BINARY), which l7 semantics drop, hence optional.
# Sample-match: \xff\xfb\x25\xff\xfb\x26\xff\xfd\x18\xff\xfd\x20
# Sample-match: \xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27
# Sample-match: \xff\xfd\x00\xff\xfb\x00
# Sample-nomatch: \xff\xfb\x01login: 
# Sample-nomatch: login: 

telnet
^\xff[\xfb-\xfe].?\xff[\xfa-\xfe]
