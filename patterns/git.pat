# Git - Git's native protocol (git://, TCP port 9418)
# Pattern attributes: great veryfast fast
# Protocol groups: file-transfer
# Specification: Git's Documentation/gitprotocol-pack.txt (git-proto-request) and gitprotocol-common.txt (pkt-line)
# Rule: the client's first pkt-line is the request: four hex digits of
#   length, then "git-upload-pack", "git-receive-pack" or
#   "git-upload-archive", a space and the repository path (then NUL-separated
#   "host=" and extra parameters, whose NULs l7 semantics drop).
# Sample-match: 003dgit-upload-pack /project.git\x00host=198.18.24.1\x00\x00version=2\x00
# Sample-match: 0032git-receive-pack /srv/repo.git\x00
# Sample-nomatch: 0000
# Sample-nomatch: git-upload-pack /project.git\n

git
^[0-9a-f][0-9a-f][0-9a-f][0-9a-f]git-(upload-pack|receive-pack|upload-archive) [!-~]
