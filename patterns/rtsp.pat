# RTSP - Real Time Streaming Protocol 1.0 and 2.0, the control connection
# Pattern attributes: great veryfast fast
# Protocol groups: streaming_audio streaming_video ietf_proposed_standard
# Specification: RFC 2326 sections 6.1 (Request-Line), 7.1 (Status-Line), 10 (methods) and 3.2 (rtsp, rtspu URLs); RFC 7826 sections 8.1, 8.2, 13 (RTSP/2.0, rtsps, PLAY_NOTIFY)
# Rule: the flow opens with a request line: an RTSP method, a space, an
#   rtsp:, rtsps: or rtspu: Request-URI or "*", a space, "RTSP/1.0" or
#   "RTSP/2.0" and CRLF; or (replies seen first, or a server's request
#   such as ANNOUNCE or GET_PARAMETER) with a status line "RTSP/1.0 NNN ".
#   RTP and RTCP interleaved in the connection ($, channel, length) come
#   after the PLAY exchange and are part of the flow; RTP over UDP on the
#   ports SETUP negotiated are flows of their own and not RTSP. RTSP
#   tunnelled in HTTP (QuickTime's GET/POST with x-sessioncookie) is HTTP
#   on the wire, and RTSP over TLS (rtsps, port 322) is TLS: a payload
#   pattern cannot tell either apart by the port.
# Sample-match: OPTIONS rtsp://198.18.71.1:554/lab RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf59.27.100\r\n\r\nRTSP/1.0 200 OK\r\n
# Sample-match: DESCRIBE rtsp://camera.example.test/stream1 RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n
# Sample-match: OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n
# Sample-match: RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 12345678\r\n
# Sample-nomatch: OPTIONS * HTTP/1.1\r\nHost: example.test\r\n
# Sample-nomatch: GET rtsp://198.18.71.1/lab HTTP/1.0\r\n
# Sample-nomatch: PLAY sip:bob@example.test SIP/2.0\r\n

rtsp
^((options|describe|announce|setup|play|pause|record|teardown|get_parameter|set_parameter|redirect|play_notify) (rtsp[su]?://[!-~]+|\*) rtsp/[12]\.0\x0d\x0a|rtsp/[12]\.0 [1-5][0-9][0-9] )
