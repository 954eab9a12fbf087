# shellcheck shell=bash
# infra/lab/scenarios/cvs.sh — CVS client/server protocol over pserver (TCP
# 2401): `cvs pserver` under tcpsvd + cvs (login from a prepared password
# file, then `cvs rls` and `cvs checkout` of a fresh repository),
# 198.18.51.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario cvs/cvs-pserver-checkout cvs tcpsvd

start_cvs_pserver() { # IP
	local ip=$1 d=$W/cvs
	mkdir -p "$d/wc" "$d/import/lab" "$d/home"
	export -n CVSROOT 2>/dev/null || true
	env -i PATH=/usr/bin:/bin HOME="$d/home" cvs -d "$d/repo" init
	printf 'hello from the l7mesh lab, over CVS pserver\n' >"$d/import/lab/hello.txt"
	(cd "$d/import/lab" && env -i PATH=/usr/bin:/bin HOME="$d/home" timeout 20 cvs -Q -d "$d/repo" import -m 'lab import' lab l7lab start)
	# pserver users come from CVSROOT/passwd only (SystemAuth=no); an empty
	# password field accepts any password; work as nobody; no history file
	printf 'SystemAuth=no\nLockDir=%s/locks\n' "$d" >>"$d/repo/CVSROOT/config"
	printf 'anonymous::nobody\n' >"$d/repo/CVSROOT/passwd"
	mkdir -p "$d/locks"
	chmod -R a+rwX "$d/repo" "$d/locks"
	rm -f "$d/repo/CVSROOT/history"
	lab_spawn srv tcpsvd -v -c 4 -l srv.example.test "$ip" 2401 env -i PATH=/usr/bin:/bin HOME="$d/home" \
		cvs -f "--allow-root=$d/repo" pserver >"$d/tcpsvd.log" 2>&1
	lab_wait_port cli "$ip" 2401 10 || { cat "$d/tcpsvd.log" >&2; lab_die "tcpsvd (cvs pserver) did not start"; }
}

scn_cvs_cvs_pserver_checkout() {
	pair 198.18.51
	start_cvs_pserver "$SRV_IP"
	local d=$W/cvs root
	root=":pserver:anonymous@$SRV_IP:$d/repo"
	# what `cvs login` would write for an empty password ("A" is the
	# scrambled empty string), so no prompt is needed
	printf '/1 :pserver:anonymous@%s:2401%s A\n' "$SRV_IP" "$d/repo" >"$d/cvspass"
	lab_capture_start srv eth0 "$PCAP"
	local c=(lab_exec cli env -i PATH=/usr/bin:/bin HOME="$d/home" CVS_PASSFILE="$d/cvspass" timeout 15 cvs -f -d "$root")
	(cd "$d/wc" && "${c[@]}" rls lab) >"$W/ls.out" 2>&1 || { cat "$W/ls.out" >&2; lab_die "cvs rls failed"; }
	(cd "$d/wc" && "${c[@]}" -Q checkout lab) >"$W/co.out" 2>&1 || { cat "$W/co.out" >&2; lab_die "cvs checkout failed"; }
	cmp -s "$d/wc/lab/hello.txt" "$d/import/lab/hello.txt" || lab_die "cvs checkout did not fetch hello.txt"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "auth request" 'BEGIN AUTH REQUEST'
	has "$NAME" "accepted login" 'I LOVE YOU'
	atleast "$NAME" "TCP connection openings" "$SYN" 2
}
