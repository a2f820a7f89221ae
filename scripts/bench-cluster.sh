#!/usr/bin/env bash
# Channels across a cluster on PostgreSQL, beside what PostgreSQL itself does with the store's
# statement, and beside one in-memory node — all in one run on this machine:
#
#   1. pgbench runs the PostgreSQL store's own append statement (printed by channel-store-bench,
#      with a one-publication batch: what a store without batching would do per publish) from
#      PGBENCH_CLIENTS clients for PGBENCH_SECONDS: the physical limit, in publishes/s.
#   2. Three `holdfast serve --mode channels --store postgres://…` nodes (one event-loop thread
#      each); channel-load publishes through node 1 as fast as its ack window allows while the
#      subscribers, spread over nodes 2 and 3, check every offset once and in order: publish
#      rate and publish→deliver latency across nodes.
#   3. The same at half of pgbench's rate, steadily: the latency of an unsaturated cluster.
#   4. The same top-speed run against one in-memory node.
#
#   scripts/bench-cluster.sh [SUBSCRIBERS] [CHANNELS]      # defaults 100 10
#
# Env: PUBLISHES (top-speed run, default 50000), STEADY_SECONDS (default 10), PGBENCH_CLIENTS
# (default 8), PGBENCH_SECONDS (default 10), SKIP_BUILD=1 to use the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
SUBSCRIBERS="${1:-100}"; CHANNELS="${2:-10}"
PUBLISHES="${PUBLISHES:-50000}"; STEADY_SECONDS="${STEADY_SECONDS:-10}"
PGBENCH_CLIENTS="${PGBENCH_CLIENTS:-8}"; PGBENCH_SECONDS="${PGBENCH_SECONDS:-10}"
BUILD=Benchmarks/Network/.build/release
WORK="$(mktemp -d)"; chmod 755 "$WORK"   # PostgreSQL (user postgres) works inside it
NODES=()
cleanup() {
    for pid in "${NODES[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${NODES[@]}"; do wait "$pid" 2>/dev/null || true; done
    pg_stop
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd Benchmarks/Network && for product in holdfast channel-load channel-store-bench; do
        swift build -c release --product "$product" || exit 1; done) > "$WORK/build.log" 2>&1 \
        || { tail -20 "$WORK/build.log"; exit 1; }
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
install_if_missing /usr/bin/pgbench postgresql-contrib

# Starts `holdfast serve --mode channels` with the options in "$@"; sets PORT to its port.
# (Not in a subshell: NODES must keep its PID for the cleanup.)
start_node() {
    local log="$WORK/node-${#NODES[@]}"
    "$BUILD/holdfast" serve --mode channels --port 0 --threads 1 "$@" > "$log.out" 2> "$log.err" &
    NODES+=($!)
    for _ in $(seq 1 200); do
        grep -q listening "$log.out" 2>/dev/null && break
        sleep 0.05
    done
    PORT="$(grep -m1 -o 'listening on ws://[^ ]*' "$log.out" | sed 's/.*://')"
    [ -n "$PORT" ] || { cat "$log.err" >&2; return 1; }
}

stop_nodes() {
    for pid in "${NODES[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${NODES[@]}"; do wait "$pid" 2>/dev/null || true; done
    NODES=()
}

# Prints field $2 of the JSON object in $1.
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

pg_start "$WORK/pg"
echo "PostgreSQL $(psql -X -A -t -h 127.0.0.1 -p "$PG_PORT" -U holdfast -c 'SHOW server_version' holdfast) at $PG_URL"

PORTS=()
for _ in 1 2 3; do start_node --store "$PG_URL"; PORTS+=("$PORT"); done

# 1. pgbench with the store's statement, one publication per statement, on the tables the nodes made.
{
    echo '\set c random(1, '"$CHANNELS"')'
    "$BUILD/channel-store-bench" append-statement \
        | sed -e "s/\$1::text\[\]/ARRAY['pgbench-' || (:c)::text]::text[]/" -e 's/\$2::boolean\[\]/ARRAY[false]/' \
              -e "s/\$3::bytea\[\]/ARRAY[convert_to(repeat('x', 100), 'UTF8')]/"
    echo ';'
} > "$WORK/append.sql"
PGBENCH_OUT="$(pgbench -n -M prepared -f "$WORK/append.sql" -c "$PGBENCH_CLIENTS" -j 2 -T "$PGBENCH_SECONDS" \
    -h 127.0.0.1 -p "$PG_PORT" -U holdfast holdfast 2>&1)" || { echo "$PGBENCH_OUT"; exit 1; }
PGBENCH_TPS="$(echo "$PGBENCH_OUT" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)"
echo "pgbench, the store's statement, $PGBENCH_CLIENTS clients, ${PGBENCH_SECONDS} s: $PGBENCH_TPS publishes/s"

LOAD=("$BUILD/channel-load" fanout -n "$SUBSCRIBERS" -c "$CHANNELS" --json
      --subscribe-url "ws://127.0.0.1:${PORTS[1]}/" --subscribe-url "ws://127.0.0.1:${PORTS[2]}/")

# 2. The cluster at top speed: publisher on node 1, subscribers on nodes 2 and 3.
TOP="$("${LOAD[@]}" -p "$PUBLISHES" -l cluster-top "ws://127.0.0.1:${PORTS[0]}/")" || { echo "$TOP"; exit 1; }
echo "$TOP"
# 3. The cluster at half of pgbench's rate.
HALF="$(python3 -c "print(round($PGBENCH_TPS / 2))")"
STEADY="$("${LOAD[@]}" -p "$(( HALF * STEADY_SECONDS ))" --rate "$HALF" -l cluster-half "ws://127.0.0.1:${PORTS[0]}/")" \
    || { echo "$STEADY"; exit 1; }
echo "$STEADY"
stop_nodes

# 4. One in-memory node, top speed.
start_node
MEMORY="$("$BUILD/channel-load" fanout -n "$SUBSCRIBERS" -c "$CHANNELS" --json -p "$PUBLISHES" -l memory-top "ws://127.0.0.1:$PORT/")" \
    || { echo "$MEMORY"; exit 1; }
echo "$MEMORY"
stop_nodes

python3 - "$PGBENCH_TPS" "$TOP" "$STEADY" "$MEMORY" <<'PY'
import json, sys
pgbench = float(sys.argv[1]); top, steady, memory = (json.loads(a) for a in sys.argv[2:5])
print()
print(f"pgbench (the store's statement, one publication each):  {pgbench:9.0f} publishes/s")
print(f"3 nodes on PostgreSQL, top speed:  {top['acks_per_s']:9.0f} publishes/s = {top['acks_per_s'] / pgbench:.2f}x pgbench; "
      f"{top['deliveries_per_s']:.0f} deliveries/s; p50 {top['lat_p50_us'] / 1000:.1f} ms, p99 {top['lat_p99_us'] / 1000:.1f} ms")
print(f"3 nodes at {steady['rate']:.0f}/s (half pgbench):  p50 {steady['lat_p50_us'] / 1000:.1f} ms, "
      f"p99 {steady['lat_p99_us'] / 1000:.1f} ms, p99.9 {steady['lat_p999_us'] / 1000:.1f} ms")
print(f"1 in-memory node, top speed:  {memory['acks_per_s']:9.0f} publishes/s; "
      f"p50 {memory['lat_p50_us'] / 1000:.1f} ms, p99 {memory['lat_p99_us'] / 1000:.1f} ms")
ok = all(r['deliveries'] == r['expected_deliveries'] for r in (top, steady, memory))
print("every subscriber got every offset once, in order" if ok else "DELIVERY VIOLATIONS: see the JSON above")
sys.exit(0 if ok else 1)
PY
