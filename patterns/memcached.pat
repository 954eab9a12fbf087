# memcached - memcached text protocol
# Pattern attributes: good veryfast fast
# Protocol groups: database
# Specification: memcached's doc/protocol.txt (storage, retrieval and statistics commands)
# Rule: the flow opens with a storage command in its exact form
#   "set|add|replace|append|prepend <key> <flags> <exptime> <bytes>" (cas
#   adds a unique) and CRLF; or with a retrieval "get|gets <keys>" answered
#   by "VALUE " or "END"; or with "stats"/"version" answered by "STAT " or
#   "VERSION ". Retrievals and stats need the reply because the request
#   alone is too generic.
# Sample-match: set greeting 0 0 26\r\nhello from the l7mesh lab\n\r\n
# Sample-match: cas k 0 60 5 12345 noreply\r\n
# Sample-match: get greeting\r\nVALUE greeting 0 26\r\n
# Sample-match: version\r\nVERSION 1.6.18\r\n
# Sample-nomatch: set x\r\n
# Sample-nomatch: get /index.html HTTP/1.1\r\n

memcached
^((set|add|replace|append|prepend) [!-~]+ [0-9]+ [0-9]+ [0-9]+|cas [!-~]+ [0-9]+ [0-9]+ [0-9]+ [0-9]+)( noreply)?\x0d\x0a|^(gets? [!-~ ]+\x0d\x0a(value [!-~]+ [0-9]+ [0-9]+|end\x0d\x0a)|(stats( [!-~]+)?|version)\x0d\x0a(stat |version ))
