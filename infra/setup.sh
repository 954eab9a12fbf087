#!/usr/bin/env bash
# Idempotent set-up of an l7mesh machine (Debian 12 / Ubuntu): system packages,
# the local PostgreSQL and NATS (JetStream) services, npm dependencies and the
# native builds. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Hyperscan is packaged for x86-64 only; Vectorscan is its drop-in elsewhere (arm64).
case "$(dpkg --print-architecture)" in
  amd64) hs_pkg=libhyperscan-dev ;;
  *) hs_pkg=libvectorscan-dev ;;
esac
packages=(
  build-essential pkg-config python3 "$hs_pkg"
  libnetfilter-queue-dev libnetfilter-conntrack-dev libmnl-dev
  iptables conntrack tcpdump iproute2 procps curl
  # the stateless edge: nft tables and the in-process libnftables runner (nftRun);
  # libnftnl for @l7mesh/nfqueue's set-element dump (nftSetElements)
  nftables ipset libnftables-dev libnftnl-dev
  nats-server postgresql
  # real servers for the edge's router test (run in its namespaces on their own configs)
  vsftpd openssh-server dnsmasq-base
  # nDPI's ndpiReader: npm run bench's real-shape classify runs it side by side
  libndpi-bin
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v node >/dev/null || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node 20 or newer: Debian 12's nodejs is 18, so take Node from the npm registry then.
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  as_root npm install -g node@20
  hash -r
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  echo "setup: starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
fi
if ! port_open 4222; then
  echo "setup: starting NATS with JetStream"
  as_root mkdir -p /var/lib/nats-server
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
for _ in $(seq 1 50); do port_open 5432 && port_open 4222 && break; sleep 0.2; done
port_open 5432 || { echo "setup: PostgreSQL is not listening on 127.0.0.1:5432" >&2; exit 1; }
port_open 4222 || { echo "setup: NATS is not listening on 127.0.0.1:4222" >&2; exit 1; }

npm ci --no-audit --no-fund
npm run build
echo "setup: done"
