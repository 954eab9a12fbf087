# Redis - Redis serialization protocol (RESP2/RESP3) requests
# Pattern attributes: great veryfast fast
# Protocol groups: database
# Specification: Redis protocol specification (RESP), "Sending commands to a Redis server"
# Rule: clients send each command as a RESP array of bulk strings:
#   "*<count>" CRLF, "$<length>" CRLF, then the command name (letters, some
#   with "." "|" "_" "-") and CRLF. The flow opens with that.
# Sample-match: *3\r\n$3\r\nSET\r\n$12\r\nlab:greeting\r\n$5\r\nhello\r\n
# Sample-match: *1\r\n$7\r\nCOMMAND\r\n
# Sample-match: *2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n
# Sample-nomatch: *3 items\r\n
# Sample-nomatch: PING\r\n

redis
^\*[1-9][0-9]?[0-9]?\x0d\x0a\$[1-9][0-9]?\x0d\x0a[a-z][a-z._|-]*\x0d\x0a
