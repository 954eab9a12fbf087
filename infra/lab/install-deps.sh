#!/usr/bin/env bash
# infra/lab/install-deps.sh — install the Debian packages record.sh uses
# (servers, clients, tcpdump). Machines are not kept between sessions, so the
# lab installs what it needs itself. Run as root. Installing the server
# packages does not start them here (no systemd); record.sh never uses their
# system configs or services anyway.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-deps.sh: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	iproute2 procps ethtool tcpdump coreutils openssl \
	nginx-light curl wget \
	vsftpd lftp tnftp \
	dnsmasq-base bind9-dnsutils \
	openssh-server openssh-client \
	socat
