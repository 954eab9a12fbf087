# shellcheck shell=bash
# infra/lab/scenarios/postgresql.sh — PostgreSQL frontend/backend protocol: a
# throw-away cluster (initdb in the scratch dir, as postgres) + psql,
# 198.18.26.0/24. The system's cluster (127.0.0.1:5432) is never touched.
# Sourced by record.sh; uses its helpers (pair, dump, has, atleast, ...) and
# netns.sh. Servers write their configs under $W, the scenario's work dir.

scenario postgresql/postgres-psql-query psql runuser

pg_bin() { # the newest installed server binaries
	local b
	b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -x "$b/postgres" ] || lab_die "no PostgreSQL server binaries in /usr/lib/postgresql"
	printf '%s' "$b"
}

start_postgres() { # IP
	local ip=$1 d=$W/postgres bin
	bin=$(pg_bin)
	mkdir -p "$d"
	chown postgres:postgres "$d"
	lab_exec srv timeout 60 runuser -u postgres -- "$bin/initdb" -D "$d/data" -U postgres \
		--auth=trust --no-instructions -E UTF8 --locale=C >"$d/initdb.log" 2>&1 ||
		{ cat "$d/initdb.log" >&2; lab_die "initdb failed"; }
	printf 'host all all 198.18.0.0/15 trust\n' >"$d/data/pg_hba.conf"
	lab_spawn srv runuser -u postgres -- "$bin/postgres" -D "$d/data" -c listen_addresses="$ip" \
		-c port=5432 -c unix_socket_directories="$d" -c ssl=off -c logging_collector=off \
		-c shared_buffers=16MB >"$d/postgres.log" 2>&1
	lab_wait_port cli "$ip" 5432 30 || { cat "$d/postgres.log" >&2; lab_die "postgres did not start"; }
}

scn_postgresql_postgres_psql_query() {
	pair 198.18.26
	start_postgres "$SRV_IP"
	lab_capture_start srv eth0 "$PCAP"
	# sslmode "prefer" (the default): psql first asks for TLS (SSLRequest),
	# the server says N, then the startup message
	lab_exec cli timeout 15 env -i PATH=/usr/bin:/bin PGCONNECT_TIMEOUT=5 PGSSLMODE=prefer \
		psql -h "$SRV_IP" -p 5432 -U postgres -d postgres -X -A -t \
		-c "SELECT 'hello from the l7mesh lab'" >"$W/psql.out" 2>&1 ||
		{ cat "$W/psql.out" >&2; lab_die "psql failed"; }
	grep -q 'hello from the l7mesh lab' "$W/psql.out" || lab_die "psql returned nothing"
	lab_capture_stop
	dump "$PCAP"
	has "$NAME" "startup message" 'postgres'
	has "$NAME" "query" "SELECT 'hello from the l7mesh lab'"
}
