# TFTP - Trivial File Transfer Protocol
# Pattern attributes: ok fast superset
# Protocol groups: file-transfer ietf_internet_standard
# Specification: RFC 1350 section 5 (packets), RFC 2347 (option extension, OACK)
# Rule: requests to port 69 are RRQ/WRQ: opcode 0x0001/0x0002, a
#   NUL-terminated file name and a mode netascii, octet or mail (any case);
#   without the NULs that is "\x01" or "\x02", printable characters and the
#   mode. The transfer itself runs on a new UDP flow from the server's new
#   port: a read starts with DATA block 1 (0x0003 0x0001, stripped to
#   "\x03\x01") answered by ACK 1 ("\x04\x01"); a write with ACK block 0
#   ("\x04", the zeros vanish) then DATA 1; a request with options with an
#   OACK (0x0006) listing them. An ACK is a packet of its own, four bytes,
#   so ACK 1 must end the head when it comes (`$`: l7-filter tried the
#   pattern after every packet): DATA 1 and "\x04\x01" anywhere later
#   also turned up in a Modbus/TCP flow (Zeek's fuzz-72.pcap, whose
#   zero-padded MBAP headers strip to "\x03\x01" and "\x04\x01!").
#   The data flows are keyed on those opcodes only, so the pattern is a
#   superset and only ok.
# Sample-match: \x00\x01hello.txt\x00octet\x00
# Sample-match: \x00\x02upload.bin\x00NETASCII\x00blksize\x001428\x00
# Sample-match: \x00\x03\x00\x01Hello from the lab\n\x00\x04\x00\x01
# Sample-match: \x00\x06tsize\x001200\x00
# Sample-nomatch: \x00\x01hello.txt\x00binary\x00
# Sample-nomatch: \x00\x03\x00\x01Hello
# Sample-nomatch: \x00\x00\x00\x00\x00\x03\x01\x9c\x01\x00\x00\x00\x00\x00\x06\x01\x1d\x00\x00\x00\x00\x00\x00\x00\x00\x03\x01\xa0\x01\x00\x00\x00\x00\x00\x04\x01\x21\x00\x00\x00\x00

tftp
^([\x01\x02][ -~]+(netascii|octet|mail)|\x03\x01.*\x04\x01$|\x04\x03\x01|\x06(blksize|tsize|timeout|windowsize)[0-9])
