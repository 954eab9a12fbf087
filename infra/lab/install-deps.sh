#!/usr/bin/env bash
# infra/lab/install-deps.sh — install the Debian packages record.sh uses
# (servers, clients, tcpdump). Machines are not kept between sessions, so the
# lab installs what it needs itself. Run as root. Installing the server
# packages does not start them here (no systemd; in containers policy-rc.d
# refuses); record.sh never uses their system configs or services anyway:
# every server runs in a lab namespace on a config written to the scratch dir.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-deps.sh: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	iproute2 procps ethtool tcpdump coreutils openssl iputils-ping \
	nginx-light curl wget lighttpd apache2 \
	vsftpd lftp tnftp \
	dnsmasq-base unbound bind9-dnsutils \
	openssh-server openssh-client dropbear-bin \
	socat \
	exim4-daemon-light swaks \
	dovecot-core dovecot-imapd dovecot-pop3d \
	inetutils-telnetd inetutils-telnet ipsvd \
	ngircd ii \
	prosody lua-unbound sendxmpp \
	chrony sntp \
	snmpd snmp \
	rsyslog bsdutils \
	tftpd-hpa tftp-hpa \
	rsync git \
	mariadb-server mariadb-client \
	postgresql postgresql-client \
	redis-server redis-tools \
	memcached libmemcached-tools \
	mosquitto mosquitto-clients \
	rabbitmq-server amqp-tools \
	slapd ldap-utils \
	sip-tester \
	dante-server \
	coturn \
	ngtcp2-server ngtcp2-client dhcping \
	aria2 transmission-cli \
	openvpn \
	wireguard-tools wireguard-go \
	samba smbclient \
	krb5-kdc krb5-admin-server krb5-user \
	tigervnc-standalone-server vncsnapshot \
	xrdp \
	nats-server \
	x11-utils \
	subversion \
	beanstalkd \
	nghttp2-server nghttp2-client \
	bird2 \
	cvs \
	gearman-job-server gearman-tools \
	dovecot-managesieved dovecot-sieve sieve-connect \
	dovecot-lmtpd \
	libcoap3-bin \
	freeradius freeradius-utils \
	tinc \
	xl2tpd \
	python3-zmq \
	pptpd pptp-linux \
	oidentd \
	rpcbind \
	gophernicus \
	dictd dict \
	munin-node \
	fingerd finger \
	leafnode \
	python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good ffmpeg \
	gwhois whois
