# Shell functions for a throw-away PostgreSQL from Debian's packages, sourced by the cluster
# scripts (the Swift tests have the same in Tests/IntegrationTests/Support/PostgresServer.swift):
# a data folder of its own, a free loopback port, trust authentication for the role `holdfast`,
# the database `holdfast`. PostgreSQL refuses to run as root, so under root it runs as the
# `postgres` user through setpriv, which execs: the PID is the postmaster's, stopped by it.
#
#   pg_start DIR      sets PG_PID, PG_PORT, PG_URL (postgres://holdfast@127.0.0.1:PORT/holdfast)
#   pg_stop           fast shutdown by PID, waits for the exit
#   free_port         prints a port no one listens on now

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Installs Debian's package $1 if the file $2 is missing.
ensure_package() {
    [ -e "$2" ] && return 0
    echo "installing $1 from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" > /dev/null \
        || { DEBIAN_FRONTEND=noninteractive apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" > /dev/null; }
}

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

pg_start() {
    local dir="$1"
    [ -n "$(pg_bin)" ] || ensure_package postgresql /usr/lib/postgresql
    local bin; bin="$(pg_bin)"
    [ -x "$bin/postgres" ] || { echo "no PostgreSQL server found under /usr/lib/postgresql" >&2; return 1; }
    local as_server=()
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres:postgres "$dir"
        as_server=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    fi
    "${as_server[@]}" "$bin/initdb" -D "$dir/data" -U holdfast --auth=trust -E UTF8 --no-sync > "$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    PG_PORT="$(free_port)"
    "${as_server[@]}" "$bin/postgres" -D "$dir/data" -p "$PG_PORT" -k "$dir" -c listen_addresses=127.0.0.1 \
        -c max_connections=200 > "$dir/postgres.log" 2>&1 &
    PG_PID=$!
    for _ in $(seq 1 200); do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U holdfast && break
        kill -0 "$PG_PID" 2>/dev/null || { cat "$dir/postgres.log" >&2; return 1; }
        sleep 0.05
    done
    "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U holdfast holdfast
    PG_URL="postgres://holdfast@127.0.0.1:$PG_PORT/holdfast"
}

pg_stop() {
    [ -n "${PG_PID:-}" ] || return 0
    kill -INT "$PG_PID" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$PG_PID" 2>/dev/null || true
    wait "$PG_PID" 2>/dev/null || true
    PG_PID=""
}
