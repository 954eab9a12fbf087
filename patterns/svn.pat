# SVN - Subversion's svn:// protocol (ra_svn), as spoken by svnserve
# Pattern attributes: great veryfast fast
# Protocol groups: file-transfer
# Specification: Subversion's subversion/libsvn_ra_svn/protocol (the ra_svn protocol description), section "Connection establishment"
# Rule: the server speaks first with a greeting tuple in the protocol's
#   word/list syntax: "( success ( minver maxver ( mechs ) ( caps ) ) )",
#   with two version numbers and an empty or word list of mechanisms before
#   the capability list (edit-pipeline, svndiff1, ...).
# Sample-match: ( success ( 2 2 ( ) ( edit-pipeline svndiff1 accepts-svndiff2 absent-entries commit-revprops depth ) ) ) 
# Sample-match: ( success ( 2 2 ( ANONYMOUS ) ( edit-pipeline svndiff1 ) ) ) 
# Sample-nomatch: ( failure ( ( 210005 24:Unknown protocol version 0:0 0 ) ) ) 
# Sample-nomatch: ( success ( ) ) 

svn
^\( success \( [0-9]+ [0-9]+ \( [a-z0-9 -]*\) \( 
