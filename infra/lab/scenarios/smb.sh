# shellcheck shell=bash
# infra/lab/scenarios/smb.sh — SMB2/3: Samba smbd + smbclient (guest share
# listing and a file download), 198.18.37.0/24. Also defines start_smbd and
# c_smbclient_get, which netbios-ssn.sh uses.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario smb/samba-smbclient-get smbd smbclient

# start_smbd IP PORT TEXT [CLIENT-LINE...]: smbd on IP:PORT only (445:
# NetBIOS off) with the guest share [pub] holding hello.txt (TEXT), and
# smbclient's own configuration $W/samba/client.conf (SMB2 at least, plus
# the CLIENT-LINEs).
start_smbd() {
	local ip=$1 port=$2 text=$3 d=$W/samba
	shift 3
	mkdir -p "$d/share"
	printf '%s\n' "$text" >"$d/share/hello.txt"
	chmod -R a+rX "$d/share"
	{
		samba_global "$d" "$ip"
		printf '\tsmb ports = %s\n' "$port"
		[ "$port" != 445 ] || printf '\tdisable netbios = yes\n'
		samba_file_share "$d"
	} >"$d/smb.conf"
	samba_client_conf "$d" "$@" 'client min protocol = SMB2_02' >"$d/client.conf"
	samba_run "$d" smbd
	lab_wait_port cli "$ip" "$port" 20 || { cat "$d/smbd.log" >&2; lab_die "smbd did not listen on $port"; }
}

# c_smbclient_get [SMBCLIENT-ARG...] SERVICE: smbclient, as guest, lists
# start_smbd's share and gets hello.txt; checks the copy is intact.
c_smbclient_get() {
	mkdir -p "$W/dl"
	lab_exec cli timeout 20 smbclient -s "$W/samba/client.conf" -N -t 10 "$@" \
		-c "ls; get hello.txt $W/dl/hello.txt" >"$W/smbclient.out" 2>&1 ||
		{ cat "$W/smbclient.out" >&2; lab_die "smbclient failed"; }
	cmp -s "$W/dl/hello.txt" "$W/samba/share/hello.txt" || lab_die "smbclient did not fetch hello.txt"
}

scn_smb_samba_smbclient_get() {
	pair 198.18.37
	start_smbd "$SRV_IP" 445 'Hello from the l7mesh capture lab, over SMB.'
	lab_capture_start srv eth0 "$PCAP"
	c_smbclient_get "//$SRV_IP/pub"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "SMB2 header" 'SMB'
	atleast "$NAME" "SMB over TCP 445" 'tcp port 445' 10
}
