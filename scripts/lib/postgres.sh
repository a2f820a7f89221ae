# Shell functions for a throw-away PostgreSQL from Debian's packages, sourced by
# scripts/cluster.sh and scripts/bench-cluster.sh (the Swift tests have the same in
# Tests/IntegrationTests/Support/PostgresServer.swift): a data folder of its own, a free loopback
# port, the role and database `holdfast`, trust for `holdfast` from 127.0.0.1 only and nothing
# else. PostgreSQL refuses to run as root, so under root it runs as the `postgres` user through
# setpriv; both setsid and setpriv exec, so the PID is the postmaster's. It runs in a session of
# its own, so that a Ctrl-C reaches only the script, which stops it last.
#
#   pg_start DIR        sets PG_PID, PG_PORT, PG_BIN, PG_URL (postgres://holdfast@127.0.0.1:PORT/holdfast)
#   pg_stop             fast shutdown by PID (SIGINT), SIGKILL after 20 s
#   free_port           prints a port no one listens on now (another process may take it first)
#   install_if_missing GLOB PACKAGE    apt-get installs PACKAGE when nothing matches GLOB

install_if_missing() {
    compgen -G "$1" > /dev/null && return 0
    echo "installing $2 from Debian's packages (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$2" > /dev/null || { apt-get update -q > /dev/null && apt-get install -y -q "$2" > /dev/null; }
}

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null || { echo "$port"; return; }
    done
}

# Sends signal $2 to PID $1 and waits at most $3 seconds for it to end, then SIGKILL (its
# children first: a killed nginx master leaves its workers).
stop_pid() {
    local pid="$1" signal="$2" seconds="$3"
    [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null || return 0
    kill "-$signal" "$pid" 2> /dev/null || true
    for _ in $(seq $((seconds * 10))); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2> /dev/null; then
        pkill -KILL -P "$pid" 2> /dev/null || true
        kill -KILL "$pid" 2> /dev/null || true
    fi
    wait "$pid" 2> /dev/null || true
}

as_postgres() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }

pg_start() {
    local dir="$1"
    install_if_missing '/usr/lib/postgresql/*/bin/postgres' postgresql
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -t/ -k4 -n | tail -1)"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -U holdfast --auth=reject -E UTF8 --no-sync > "$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    echo "host all holdfast 127.0.0.1/32 trust" | as_postgres tee "$dir/data/pg_hba.conf" > /dev/null
    PG_PID=""
    for _ in 1 2 3 4 5; do
        PG_PORT="$(free_port)"
        local server=("$PG_BIN/postgres" -D "$dir/data" -p "$PG_PORT" -k "$dir" -c listen_addresses=127.0.0.1
                      -c max_connections=200)
        if [ "$(id -u)" = 0 ]; then
            setsid setpriv --reuid=postgres --regid=postgres --init-groups -- "${server[@]}" >> "$dir/server.log" 2>&1 &
        else
            setsid "${server[@]}" >> "$dir/server.log" 2>&1 &
        fi
        PG_PID=$!
        for _ in $(seq 300); do
            kill -0 "$PG_PID" 2> /dev/null || break
            "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U holdfast && break
            sleep 0.05
        done
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U holdfast && break
        stop_pid "$PG_PID" INT 10   # the port was taken meanwhile: try another
        PG_PID=""
    done
    [ -n "$PG_PID" ] || { echo "PostgreSQL did not start:" >&2; tail -20 "$dir/server.log" >&2; return 1; }
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U holdfast holdfast
    PG_URL="postgres://holdfast@127.0.0.1:$PG_PORT/holdfast"
}

pg_stop() {
    stop_pid "${PG_PID:-}" INT 20
    PG_PID=""
}
