# shellcheck shell=bash
# infra/lab/scenarios/smb.sh — SMB2/3: Samba smbd + smbclient (guest share
# listing and a file download), 198.18.37.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario smb/samba-smbclient-get smbd smbclient

start_smbd() { # IP
	local ip=$1 d=$W/samba
	mkdir -p "$d/share"
	printf 'Hello from the l7mesh capture lab, over SMB.\n' >"$d/share/hello.txt"
	chmod -R a+rX "$d/share"
	{
		samba_global "$d" "$ip"
		printf '\tsmb ports = 445\n\tdisable netbios = yes\n'
		samba_file_share "$d"
	} >"$d/smb.conf"
	cat >"$d/client.conf" <<EOF
# smbclient's own (empty) configuration, instead of /etc/samba/smb.conf
[global]
	client min protocol = SMB2_02
	cache directory = $d/cache
	lock directory = $d/lock
	state directory = $d/state
	private dir = $d/private
EOF
	# setsid: smbd signals its whole process group when it exits; keep that
	# group away from record.sh
	lab_spawn srv setsid smbd --foreground --no-process-group --debug-stdout -s "$d/smb.conf" >"$d/smbd.log" 2>&1
	lab_wait_port cli "$ip" 445 20 || { cat "$d/smbd.log" >&2; lab_die "smbd did not start"; }
}

scn_smb_samba_smbclient_get() {
	pair 198.18.37
	start_smbd "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	mkdir -p "$W/dl"
	lab_exec cli timeout 20 smbclient -s "$W/samba/client.conf" -N -t 10 "//$SRV_IP/pub" \
		-c "ls; get hello.txt $W/dl/hello.txt" >"$W/smbclient.out" 2>&1 ||
		{ cat "$W/smbclient.out" >&2; lab_die "smbclient failed"; }
	cmp -s "$W/dl/hello.txt" "$W/samba/share/hello.txt" || lab_die "smbclient did not fetch hello.txt"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "SMB2 header" 'SMB'
	atleast "$NAME" "SMB over TCP 445" 'tcp port 445' 10
}
