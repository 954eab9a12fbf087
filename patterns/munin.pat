# Munin - Munin node protocol (TCP 4949)
# Pattern attributes: great veryfast fast
# Protocol groups: networking
# Specification: Munin documentation, "Munin node protocol" (greeting "# munin node at HOSTNAME", commands cap, list, config, fetch, nodes, version, quit)
# Rule: the node speaks first with the line "# munin node at " and its host
#   name, LF.
# Sample-match: # munin node at srv.example.test\ncap multigraph\n
# Sample-nomatch: # munin master at x\n
# Sample-nomatch: munin node at srv\n

munin
^# munin node at [!-~]+\x0a
