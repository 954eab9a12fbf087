# shellcheck shell=bash
# infra/lab/scenarios/mysql.sh — MySQL protocol: MariaDB server + mariadb
# client, 198.18.25.0/24.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario mysql/mariadb-client-query mariadbd mariadb-install-db mariadb

start_mariadb() { # IP
	local ip=$1 d=$W/mariadb
	mkdir -p "$d/data"
	chown -R mysql:mysql "$d"
	# a throw-away data dir (--no-defaults: no /etc/mysql config at all);
	# the host's own MariaDB, if any, is never touched
	lab_exec srv timeout 60 mariadb-install-db --no-defaults --datadir="$d/data" --user=mysql \
		--auth-root-authentication-method=normal --skip-test-db >"$d/install.log" 2>&1 ||
		{ cat "$d/install.log" >&2; lab_die "mariadb-install-db failed"; }
	lab_spawn srv mariadbd --no-defaults --datadir="$d/data" --user=mysql --bind-address="$ip" \
		--port=3306 --socket="$d/mysqld.sock" --pid-file="$d/mysqld.pid" --log-error="$d/error.log" \
		--skip-name-resolve --skip-grant-tables --innodb-buffer-pool-size=16M >"$d/stdout.log" 2>&1
	lab_wait_port cli "$ip" 3306 30 || { cat "$d/error.log" >&2; lab_die "mariadbd did not start"; }
}

scn_mysql_mariadb_client_query() {
	pair 198.18.25
	start_mariadb "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	lab_exec cli timeout 15 mariadb --no-defaults -h "$SRV_IP" -P 3306 -u lab --connect-timeout=5 \
		-e "SELECT 'hello from the l7mesh lab' AS greeting, VERSION()" >"$W/mariadb.out" 2>&1 ||
		{ cat "$W/mariadb.out" >&2; lab_die "mariadb client failed"; }
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "server greeting" 'MariaDB'
	has "$NAME" "query" "SELECT 'hello from the l7mesh lab'"
}
