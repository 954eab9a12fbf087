# shellcheck shell=bash
# infra/lab/scenarios/svn.sh — Subversion's svn:// protocol (ra_svn):
# svnserve + svn (list and cat of a fresh repository, anonymous read),
# 198.18.45.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario svn/svnserve-svn-list-cat svnserve svn svnadmin

start_svnserve() { # IP
	local ip=$1 d=$W/svn
	mkdir -p "$d/cfg" "$d/root"
	svnadmin create "$d/root/lab"
	# one commit, made locally (file://), before the server starts
	printf 'hello from the l7mesh lab, over svn://\n' >"$d/hello.txt"
	env -i PATH=/usr/bin:/bin HOME="$d" timeout 20 svn import --config-dir "$d/cfg" --non-interactive -q \
		-m 'lab import' "$d/hello.txt" "file://$d/root/lab/hello.txt"
	# the repository's own svnserve.conf: anonymous read (the default)
	lab_spawn srv svnserve -d --foreground --listen-host "$ip" --listen-port 3690 -r "$d/root" \
		--log-file "$d/svnserve.log" --pid-file "$d/svnserve.pid"
	lab_wait_port cli "$ip" 3690 10 || { cat "$d/svnserve.log" >&2; lab_die "svnserve did not start"; }
}

scn_svn_svnserve_svn_list_cat() {
	pair 198.18.45
	start_svnserve "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	local d=$W/svn c=(lab_exec cli env -i PATH=/usr/bin:/bin HOME="$W/svn" timeout 10 svn --config-dir "$W/svn/cfg" --non-interactive)
	"${c[@]}" ls "svn://$SRV_IP/lab/" >"$W/ls.out" 2>&1 || { cat "$W/ls.out" >&2; lab_die "svn ls failed"; }
	"${c[@]}" cat "svn://$SRV_IP/lab/hello.txt" >"$W/cat.out" 2>&1 || { cat "$W/cat.out" >&2; lab_die "svn cat failed"; }
	grep -q 'hello from the l7mesh lab' "$W/cat.out" || lab_die "svn cat returned something else"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "server greeting" '( success ( '
	has "$NAME" "file contents" 'hello from the l7mesh lab'
	atleast "$NAME" "TCP connection openings" "$SYN" 2
}
