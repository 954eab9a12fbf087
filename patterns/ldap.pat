# LDAP - Lightweight Directory Access Protocol v2/v3, client requests
# Pattern attributes: good veryfast fast
# Protocol groups: networking database ietf_proposed_standard
# Specification: RFC 4511 section 4.1.1 (LDAPMessage), 4.2 (BindRequest), 4.5.1 (SearchRequest), 4.12 (ExtendedRequest, e.g. StartTLS); X.690 (BER)
# Rule: the first LDAPMessage is a BER SEQUENCE (0x30, 1-3 length bytes
#   left after l7 drops the NULs), the messageID INTEGER (0x02, length 1-4,
#   value) and the protocol operation: BindRequest [APPLICATION 0] (0x60,
#   length, version INTEGER 0x02 0x01 2|3, name OCTET STRING 0x04),
#   SearchRequest [APPLICATION 3] (0x63, length, baseObject 0x04) or
#   ExtendedRequest [APPLICATION 23] (0x77, length, requestName [0] 0x80).
# Sample-match: \x30\x30\x02\x01\x01\x60\x2b\x02\x01\x03\x04\x1bcn=admin,dc=example,dc=test\x80\x09labsecret
# Sample-match: \x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00
# Sample-match: \x30\x25\x02\x01\x01\x63\x20\x04\x00\x0a\x01\x00
# Sample-match: \x30\x1d\x02\x01\x01\x77\x18\x80\x161.3.6.1.4.1.1466.20037
# Sample-nomatch: \x30\x29\x02\x01\x01\x04\x06public\xa0\x1c\x02\x04
# Sample-nomatch: \x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00

ldap
^\x30[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?\x02(\x01[\x01-\x7f]|[\x02-\x04][\x01-\xff][\x01-\xff]?[\x01-\xff]?[\x01-\xff]?)(\x60[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?\x02\x01[\x02\x03]\x04|\x63[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?\x04|\x77[\x01-\xff]?[\x01-\xff]?[\x01-\xff]?\x80)
