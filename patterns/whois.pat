# WHOIS - the whois directory protocol (NICNAME/WHOIS), one query and its answer
# Pattern attributes: ok fast
# Protocol groups: networking ietf_draft_standard
# Specification: RFC 3912 section 2 (the client sends one line, terminated by CRLF; the server answers with text and closes the connection); RFC 2622 section 2 (RPSL objects, "%" comments, as the RIRs answer)
# Rule: the query line: optional flags (-B, -T inetnum, ...) or a query
#   keyword (domain, n, a, nameserver, registrar, contact, "n +" as ARIN
#   takes them, or "="), then one word: a domain name, an address or
#   prefix, an AS number or a handle; CRLF. Then the answer, after any
#   empty lines: a comment line ("%" as RPSL servers and most registries
#   write, "#" as ARIN does), a "Key words: value" line of two or more
#   words ("Domain Name:", "Registry Domain ID:", gwhois' "Process query:"),
#   or a "no match"/"not found"/"no entries found"/"no data found" line.
#   RFC 3912 gives the answer no format, so an answer in any other shape
#   is not recognised. A one-word key such as "Login:" is left out on
#   purpose: it is how a Finger server answers a query of the same shape.
#   The same exchange on another port (rwhois on 4321 speaks its own
#   banner first) or a query without flags answered in free text cannot be
#   told from other line-based protocols by the payload.
# Sample-match: example.test\r\nProcess query: 'example.test'\n\n\nNo lookup service available for your query 'example.test'.\n
# Sample-match: 193.0.6.139\r\n% This is the RIPE Database query service.\n% The objects are in RPSL format.\n
# Sample-match: n + 198.18.72.2\r\n\r\n#\r\n# ARIN WHOIS data and services are subject to the Terms of Use\r\n
# Sample-match: -B -T inetnum 198.18.0.0/15\r\n%  No entries found for the selected source(s).\n
# Sample-match: domain example.com\r\n   Domain Name: EXAMPLE.COM\r\n   Registry Domain ID: 2336799_DOMAIN_COM-VRSN\r\n
# Sample-match: nosuchname.test\r\nNo match for "NOSUCHNAME.TEST".\r\n
# Sample-nomatch: nobody\r\nLogin: nobody         \t\t\tName: nobody\r\n
# Sample-nomatch: GET / HTTP/1.1\r\nHost: example.test\r\n
# Sample-nomatch: example.test\r\nhello\r\n

whois
^(-[a-z]+ ([a-z0-9,-]+ )?)*((domain|n|a|z|nameserver|registrar|contact) (\+ )?|=)?[a-z0-9][a-z0-9._:/@*-]*\x0d\x0a(\x0d?\x0a)*(%|#|[\x09 ]*[a-z]+( [a-z]+)+: |no match|not found|no entries found|no data found)
