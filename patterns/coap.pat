# CoAP - Constrained Application Protocol over UDP, requests
# Pattern attributes: ok fast
# Protocol groups: networking, ietf_proposed_standard
# Specification: RFC 7252 section 3 (message format), 5.10 (options: Uri-Host 3, Uri-Path 11), 12.1 (method codes); RFC 8132 (FETCH, PATCH, iPATCH)
# Rule: a request opens the flow: version 1 with type CON or NON and a
#   token length of 0 to 8 (first byte 0x40-0x48 or 0x50-0x58), a method
#   code 0.01-0.07 (GET, POST, PUT, DELETE, FETCH, PATCH, iPATCH), the
#   16-bit message id and the token (0 to 10 bytes together, fewer once
#   NULs are dropped), then the first option: Uri-Host (delta 3) or
#   Uri-Path (delta 11) with a length of 2 to 12, and the first two
#   printable characters of the host or path. Requests without
#   Uri-Host/Uri-Path (on "/") or with a one-character first segment are
#   not recognised. Binary, so it can hit random bytes about once in a
#   thousand flows. The gap is optional chunks of 8/4/2/1 bytes.
#   Lowercasing makes 0x41-0x48 and 0x61-0x68 (ACKs with a token) one set,
#   as it does for every pattern under l7 semantics.
# Sample-match: \x41\x01\xb3\x4f\x01\xbb.well-known\x04core
# Sample-match: \x41\x01\x7f\x4f\x01\xb4time
# Sample-match: \x41\x03\xf1\xa4\x01\xbcexample_data\xffhello
# Sample-match: \x52\x01\x12\x34\xde\xad\x3bexample\x84temp
# Sample-nomatch: \x61\x45\xb3\x4f\x01\xc1\x28\xff</>
# Sample-nomatch: \x41\x01\x12\x34\x01\xff\x00\x01
# Sample-nomatch: Hello world

coap
^[\x40-\x48\x50-\x58][\x01-\x07](........)?(....)?(..)?.?[\x32-\x3c\xb2-\xbc][!-~][!-~]
