# shellcheck shell=bash
# infra/lab/scenarios/netbios-ssn.sh — NetBIOS Session Service (RFC 1002,
# TCP 139) carrying SMB: Samba's smbd listening on 139 only + smbclient
# -p 139 (session request with called/calling names, then SMB2),
# 198.18.49.0/24. The SMB inside is classified by the session request
# that opens the connection.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario netbios-ssn/samba-smbclient-139 smbd smbclient

scn_netbios_ssn_samba_smbclient_139() {
	pair 198.18.49
	local ip=$SRV_IP d=$W/samba
	mkdir -p "$d/share"
	printf 'Hello from the l7mesh capture lab, over NetBIOS session service.\n' >"$d/share/hello.txt"
	chmod -R a+rX "$d/share"
	{
		samba_global "$d" "$ip"
		printf '\tsmb ports = 139\n'
		samba_file_share "$d"
	} >"$d/smb.conf"
	cat >"$d/client.conf" <<EOF
# smbclient's own configuration, instead of /etc/samba/smb.conf
[global]
	netbios name = L7LABCLI
	client min protocol = SMB2_02
	cache directory = $d/cache
	lock directory = $d/lock
	state directory = $d/state
	private dir = $d/private
EOF
	lab_spawn srv setsid smbd --foreground --no-process-group --debug-stdout -s "$d/smb.conf" >"$d/smbd.log" 2>&1
	lab_wait_port cli "$ip" 139 20 || { cat "$d/smbd.log" >&2; lab_die "smbd did not listen on 139"; }
	lab_capture_start srv eth0 "$PCAP"
	mkdir -p "$W/dl"
	lab_exec cli timeout 20 smbclient -s "$d/client.conf" -N -t 10 -p 139 -I "$ip" //L7LABSRV/pub \
		-c "ls; get hello.txt $W/dl/hello.txt" >"$W/smbclient.out" 2>&1 ||
		{ cat "$W/smbclient.out" >&2; lab_die "smbclient failed"; }
	cmp -s "$W/dl/hello.txt" "$d/share/hello.txt" || lab_die "smbclient did not fetch hello.txt"
	lab_capture_stop
	dump "$PCAP"
	# session request (type 0x81) and positive response (0x82)
	atleast "$NAME" "session request" 'tcp dst port 139 and tcp[((tcp[12] & 0xf0) >> 2)] = 0x81' 1
	atleast "$NAME" "positive session response" 'tcp src port 139 and tcp[((tcp[12] & 0xf0) >> 2)] = 0x82' 1
	has "$NAME" "SMB2 header" 'SMB'
}
