# shellcheck shell=bash
# infra/lab/scenarios/git.sh — git protocol (git://): git daemon + git clone,
# 198.18.24.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario git/git-daemon-clone git

# git with no user or system configuration (HOME in the scratch dir)
lab_git() { env -i PATH=/usr/bin:/bin HOME="$W" GIT_CONFIG_NOSYSTEM=1 "$@"; }

start_git_daemon() { # IP
	local ip=$1 d=$W/gitd
	mkdir -p "$d/src"
	(
		cd "$d/src"
		lab_git git init -q -b main .
		printf 'l7mesh lab repository\n' >README
		lab_git git add README
		lab_git git -c user.name=lab -c user.email=lab@example.test commit -q -m 'first commit'
		lab_git git clone -q --bare . "$d/project.git"
	) || lab_die "cannot build the git repository"
	chmod -R a+rX "$d"
	lab_spawn srv env -i PATH=/usr/bin:/bin HOME="$W" GIT_CONFIG_NOSYSTEM=1 \
		git daemon --listen="$ip" --port=9418 --base-path="$d" --export-all --reuseaddr \
		--pid-file="$d/gitd.pid" --verbose "$d" >"$d/gitd.log" 2>&1
	lab_wait_port cli "$ip" 9418 10 || { cat "$d/gitd.log" >&2; lab_die "git daemon did not start"; }
}

scn_git_git_daemon_clone() {
	pair 198.18.24
	start_git_daemon "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 20 env -i PATH=/usr/bin:/bin HOME="$W" GIT_CONFIG_NOSYSTEM=1 \
		git clone -q "git://$SRV_IP/project.git" "$W/clone" >"$W/git.out" 2>&1 ||
		{ cat "$W/git.out" >&2; lab_die "git clone failed"; }
	[ -f "$W/clone/README" ] || lab_die "git clone has no README"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "upload-pack request" 'git-upload-pack /project.git'
}
