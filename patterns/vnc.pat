# VNC - Remote Framebuffer protocol (RFB) 3.3 to 3.8
# Pattern attributes: great veryfast fast
# Protocol groups: remote-access
# Specification: RFC 6143 section 7.1.1 (ProtocolVersion handshake)
# Rule: the server opens with its 12-byte ProtocolVersion "RFB 003.008\n"
#   (three digits, a dot, three digits, LF; "003.003", "003.007" and
#   vendor variants such as "003.889" exist), and the client answers with
#   the same form.
# Sample-match: RFB 003.008\n
# Sample-match: RFB 003.003\nRFB 003.003\n
# Sample-nomatch: RFB 3.8\n
# Sample-nomatch: rfb: 003.008\n

vnc
^rfb [0-9][0-9][0-9]\.[0-9][0-9][0-9]\x0a
