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
	# start_smbd and c_smbclient_get: in smb.sh; the client's NetBIOS name
	# goes into the session request
	start_smbd "$SRV_IP" 139 'Hello from the l7mesh capture lab, over NetBIOS session service.' \
		'netbios name = L7LABCLI'
	lab_capture_start srv eth0 "$PCAP"
	c_smbclient_get -p 139 -I "$SRV_IP" //L7LABSRV/pub
	lab_capture_stop
	dump "$PCAP"
	# session request (type 0x81) and positive response (0x82)
	atleast "$NAME" "session request" 'tcp dst port 139 and tcp[((tcp[12] & 0xf0) >> 2)] = 0x81' 1
	atleast "$NAME" "positive session response" 'tcp src port 139 and tcp[((tcp[12] & 0xf0) >> 2)] = 0x82' 1
	has "$NAME" "SMB2 header" 'SMB'
}
