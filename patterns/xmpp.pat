# XMPP - Extensible Messaging and Presence Protocol (Jabber), client and server streams
# Pattern attributes: great veryfast fast
# Protocol groups: chat ietf_proposed_standard
# Specification: RFC 6120 section 4.2 (opening a stream) and 4.8 (namespaces), XEP-0114 (component streams)
# Rule: the initiating entity opens an XML stream: an optional XML
#   declaration, then a <stream:stream ...> start tag whose attributes carry
#   the content namespace jabber:client, jabber:server or
#   jabber:component:accept, or the streams namespace
#   http://etherx.jabber.org/streams.
# Sample-match: <?xml version='1.0'?><stream:stream version='1.0' xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' to='example.test'>
# Sample-match: <stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>
# Sample-nomatch: <?xml version='1.0'?><html>
# Sample-nomatch: <stream:stream></stream:stream>

xmpp
^(<\?xml[^>]*\?>)?[\x09-\x0d ]*<stream:stream[\x09-\x0d ][^>]*(jabber:(client|server|component)|etherx\.jabber\.org/streams)
