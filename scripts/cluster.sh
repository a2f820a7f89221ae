#!/usr/bin/env bash
# A local Holdfast cluster for a person to try: a throw-away PostgreSQL, N `holdfast serve` nodes
# on it, and nginx in front of them — what issue 16 runs in production, on one machine.
#
#   - PostgreSQL from Debian's packages (installed with apt-get when missing): a new data folder
#     in a temporary folder, a free loopback port, the role and database `holdfast`, trust
#     authentication for `holdfast` from 127.0.0.1 only. PostgreSQL refuses to run as root, so
#     under root it runs as the `postgres` user (setpriv, as the tests' PostgresServer does).
#   - N nodes: `holdfast serve --mode MODE --store postgres://holdfast@127.0.0.1:PGPORT/holdfast`,
#     each on a free port (`--port 0`), pinging clients every 30 s (keepalive through nginx); for
#     `--mode files` each has its own `--files-dir`. `--mode echo` starts plain echo nodes
#     without `--store`. holdfast is built in release first (`swift build -c release`), unless
#     $HOLDFAST names an executable. (`holdfast serve --store` comes with issue 16's PostgreSQL
#     store; with a holdfast that lacks it, the channels and files nodes fail to start and the
#     script stops, saying so.)
#   - nginx from Debian's packages (installed when missing) on 127.0.0.1:PORT with the cluster's
#     configuration, scripts/nginx-cluster.conf.template — the one the tests' NginxServer uses, so
#     the two stay in step: the nodes as one upstream, WebSocket upgrades passed on, a stopped
#     node's refused connect passed to the next node.
#
# It prints the URLs (nginx, each node, the status pages, the psql command) and runs until Ctrl-C
# (or SIGTERM); then it stops everything it started, by PID — nginx, then the nodes (SIGTERM:
# their clients get 1001), then PostgreSQL — and removes the temporary folder.
#
# Usage: scripts/cluster.sh [--nodes N] [--mode channels|files|echo] [--port P]
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/cluster.sh [--nodes N] [--mode channels|files|echo] [--port P]

Starts a throw-away PostgreSQL, N `holdfast serve` nodes on it, and nginx in front of them on
127.0.0.1:P, prints their URLs, and runs until Ctrl-C, which stops them all and removes their
temporary folder.

  --nodes N      how many nodes (default 3)
  --mode MODE    channels (default), files (each node with its own --files-dir), or echo
                 (plain echo nodes, no --store)
  --port P       nginx's port on 127.0.0.1 (default 8080; 0: a free one)
  -h, --help     this text

Environment: HOLDFAST=/path/to/holdfast uses that executable instead of building one in release.
Needs root, or sudo-less access to what is already installed (apt-get installs postgresql and
nginx when missing).
EOF
}

NODES=3
MODE=channels
PORT=8080
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) NODES="${2:?--nodes needs a number}"; shift 2 ;;
        --mode) MODE="${2:?--mode needs channels, files or echo}"; shift 2 ;;
        --port) PORT="${2:?--port needs a number}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
case "$MODE" in channels|files|echo) ;; *) echo "--mode must be channels, files or echo" >&2; exit 2 ;; esac
[[ "$NODES" =~ ^[1-9][0-9]*$ ]] || { echo "--nodes must be a positive number" >&2; exit 2; }
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -le 65535 ] || { echo "--port must be a port number" >&2; exit 2; }

cd "$(dirname "$0")/.."
ROOT="$PWD"
TEMPLATE="$ROOT/scripts/nginx-cluster.conf.template"
# PostgreSQL (pg_start, pg_stop), free_port, stop_pid, install_if_missing.
source "$ROOT/scripts/lib/postgres.sh"

say() { echo "cluster: $*"; }

# --- what is started, stopped on exit by PID ----------------------------------------------------
WORK="$(mktemp -d /tmp/holdfast-cluster.XXXXXX)"
chmod 755 "$WORK"   # PostgreSQL (user postgres) and nginx's workers (nobody) work inside it
NGINX_PID=""
NODE_PIDS=()

cleanup() {
    trap - EXIT INT TERM
    echo
    say "stopping"
    stop_pid "$NGINX_PID" TERM 10
    for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done   # all drain at once
    for pid in "${NODE_PIDS[@]}"; do stop_pid "$pid" TERM 20; done
    pg_stop
    rm -rf "$WORK"
    say "stopped; removed $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The children run in sessions of their own (setsid, which execs: the PID is the program's), so
# that a Ctrl-C reaches only this script, which stops them in order.

# --- PostgreSQL ---------------------------------------------------------------------------------
pg_start "$WORK/pg" > /dev/null
STORE="$PG_URL"

# --- holdfast -------------------------------------------------------------------------------------
if [ -z "${HOLDFAST:-}" ]; then
    say "building holdfast (swift build -c release --product holdfast)"
    swift build -c release --product holdfast
    HOLDFAST="$(swift build -c release --show-bin-path)/holdfast"
fi
[ -x "$HOLDFAST" ] || { say "no holdfast executable at $HOLDFAST"; exit 1; }

NODE_PORTS=()
for index in $(seq "$NODES"); do
    arguments=(serve --port 0 --ping-interval 30)
    [ "$MODE" != echo ] && arguments+=(--mode "$MODE" --store "$STORE")
    [ "$MODE" = files ] && { mkdir -p "$WORK/files-$index"; arguments+=(--files-dir "$WORK/files-$index"); }
    log="$WORK/node-$index.log"
    setsid "$HOLDFAST" "${arguments[@]}" > "$log" 2>&1 &
    NODE_PIDS+=($!)
    port=""
    for _ in $(seq 100); do
        port="$(sed -n 's/^listening on ws:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")"
        [ -n "$port" ] && break
        kill -0 "${NODE_PIDS[-1]}" 2> /dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] || { say "node $index did not start:"; cat "$log" >&2; exit 1; }
    NODE_PORTS+=("$port")
done

# --- nginx ----------------------------------------------------------------------------------------
install_if_missing /usr/sbin/nginx nginx
mkdir "$WORK/nginx"
UPSTREAMS="$(for port in "${NODE_PORTS[@]}"; do printf '        server 127.0.0.1:%s max_fails=0;\n' "$port"; done)"
attempts=1
[ "$PORT" = 0 ] && attempts=5
for _ in $(seq "$attempts"); do
    NGINX_PORT="$PORT"
    [ "$PORT" = 0 ] && NGINX_PORT="$(free_port)"
    FOLDER="$WORK/nginx" NGINX_PORT="$NGINX_PORT" UPSTREAMS="$UPSTREAMS" awk '
        { gsub(/\{\{FOLDER\}\}/, ENVIRON["FOLDER"]); gsub(/\{\{PORT\}\}/, ENVIRON["NGINX_PORT"]) }
        /\{\{UPSTREAMS\}\}/ { print ENVIRON["UPSTREAMS"]; next }
        { print }' "$TEMPLATE" > "$WORK/nginx/nginx.conf"
    rm -f "$WORK/nginx/nginx.pid"
    setsid /usr/sbin/nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" \
        > "$WORK/nginx/output.log" 2>&1 &
    NGINX_PID=$!
    # The pid file is written once the port is bound; a taken port makes nginx exit (after ~2.5 s).
    for _ in $(seq 100); do
        [ "$(cat "$WORK/nginx/nginx.pid" 2> /dev/null)" = "$NGINX_PID" ] && break
        kill -0 "$NGINX_PID" 2> /dev/null || break
        sleep 0.05
    done
    [ "$(cat "$WORK/nginx/nginx.pid" 2> /dev/null)" = "$NGINX_PID" ] && break
    stop_pid "$NGINX_PID" TERM 5
    NGINX_PID=""
done
[ -n "$NGINX_PID" ] || { say "nginx did not start on 127.0.0.1:$NGINX_PORT:"; cat "$WORK/nginx/output.log" "$WORK/nginx/error.log" >&2; exit 1; }

# --- the URLs ---------------------------------------------------------------------------------------
echo
say "running — Ctrl-C stops everything and removes $WORK"
echo "  nginx           ws://127.0.0.1:$NGINX_PORT/      (status page of whichever node answers: http://127.0.0.1:$NGINX_PORT/)"
for index in $(seq "$NODES"); do
    port="${NODE_PORTS[$((index - 1))]}"
    echo "  node $index          ws://127.0.0.1:$port/      status http://127.0.0.1:$port/  http://127.0.0.1:$port/status.json  (PID ${NODE_PIDS[$((index - 1))]}, log $WORK/node-$index.log)"
done
echo "  PostgreSQL      $STORE      psql -h 127.0.0.1 -p $PG_PORT -U holdfast holdfast"
echo "  nginx's config  $WORK/nginx/nginx.conf"
echo
echo "  try:            $HOLDFAST connect ws://127.0.0.1:$NGINX_PORT/"
echo "  stop a node:    kill -TERM <its PID> — its clients get 1001 and reconnect through nginx to another node"

# Until Ctrl-C; a node that ends is reported once.
declare -A reported=()
while :; do
    for index in "${!NODE_PIDS[@]}"; do
        if [ -z "${reported[$index]:-}" ] && ! kill -0 "${NODE_PIDS[$index]}" 2> /dev/null; then
            say "node $((index + 1)) (PID ${NODE_PIDS[$index]}) has ended; see $WORK/node-$((index + 1)).log"
            reported[$index]=1
        fi
    done
    kill -0 "$NGINX_PID" 2> /dev/null || { say "nginx has ended:"; cat "$WORK/nginx/error.log" >&2; exit 1; }
    sleep 1
done
