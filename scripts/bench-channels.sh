#!/usr/bin/env bash
# Fan-out and replay figures of `holdfast serve --mode channels` with Benchmarks/Network's
# `channel-load`: builds both (release), starts the server on a free port with one event-loop
# thread, runs the scenarios against the in-memory store and, when this checkout's server accepts
# --history-dir, against the SQLite store in a temporary folder, stops the server by its PID after
# each, and prints the figures.
#
#   scripts/bench-channels.sh [SUBSCRIBERS] [PUBLISHES] [REPLAYED]     # defaults 1000 20000 100000
#   SUBSCRIBERS=100 scripts/bench-channels.sh
#
# Fan-out runs twice: at the publisher's top speed (throughput; the latency there is mostly the
# ack window queueing) and at a steady STEADY_RATE publishes/s for STEADY_SECONDS (the latency of
# an unsaturated server; default rate 200,000 deliveries/s shared by the subscribers).
#
# Env: SERVER_THREADS (default 1), STEADY_RATE, STEADY_SECONDS (default 10), STORES ("memory disk", default both; disk only if supported),
# SCENARIOS ("fanout replay", default both), LOAD_ARGS (extra fanout options, e.g. "--rate 5000" or "-c 10"), JSON=1 for JSON objects,
# SKIP_BUILD=1 to use the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
SUBSCRIBERS="${1:-${SUBSCRIBERS:-1000}}"; PUBLISHES="${2:-${PUBLISHES:-20000}}"; REPLAYED="${3:-${REPLAYED:-100000}}"
SERVER_THREADS="${SERVER_THREADS:-1}"; STORES="${STORES:-memory disk}"; LOAD_ARGS="${LOAD_ARGS:-}"
SCENARIOS="${SCENARIOS:-fanout replay}"
STEADY_RATE="${STEADY_RATE:-$(( 200000 / SUBSCRIBERS ))}"; STEADY_SECONDS="${STEADY_SECONDS:-10}"
OUTPUT=(); [ "${JSON:-0}" = 1 ] && OUTPUT=(--json)
# Both from Benchmarks/Network's build (which depends on this checkout by path): one build, not two.
HOLDFAST=Benchmarks/Network/.build/release/holdfast
LOAD=Benchmarks/Network/.build/release/channel-load
WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd Benchmarks/Network && swift build -c release --product channel-load && swift build -c release --product holdfast) \
        > "$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; exit 1; }
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Starts the server with the store options in "$@"; sets SERVER and PORT.
start_server() {
    rm -f "$WORK/serve.out"
    "$HOLDFAST" serve --mode channels --port 0 --threads "$SERVER_THREADS" \
        --history-size "$REPLAYED" --max-replay "$REPLAYED" "$@" > "$WORK/serve.out" 2> "$WORK/serve.err" &
    SERVER=$!
    for _ in $(seq 1 200); do
        grep -q listening "$WORK/serve.out" 2>/dev/null && break
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.05
    done
    PORT="$(grep -m1 -o 'listening on ws://[^ ]*' "$WORK/serve.out" | sed 's/.*://')"
    [ -n "$PORT" ] || { echo "the server did not start: $(cat "$WORK/serve.err")" >&2; SERVER=""; return 1; }
}

stop_server() {
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

status=0
for store in $STORES; do
    case "$store" in
        memory) options=() ;;
        disk) options=(--history-dir "$WORK/history") ;;
        *) echo "unknown store $store" >&2; exit 2 ;;
    esac
    echo "== $store store: server --threads $SERVER_THREADS${options:+ ${options[*]}}"
    if ! start_server "${options[@]}"; then
        [ "$store" = disk ] && { echo "(the SQLite store is not in this checkout's server: skipped)"; continue; }
        exit 1
    fi
    if [[ " $SCENARIOS " == *" fanout "* ]]; then
        # shellcheck disable=SC2086
        "$LOAD" fanout "${OUTPUT[@]}" -l "$store-max" -n "$SUBSCRIBERS" -p "$PUBLISHES" $LOAD_ARGS "ws://127.0.0.1:$PORT/" || status=1
        # shellcheck disable=SC2086
        "$LOAD" fanout "${OUTPUT[@]}" -l "$store-steady" -n "$SUBSCRIBERS" -p "$(( STEADY_RATE * STEADY_SECONDS ))" \
            --rate "$STEADY_RATE" $LOAD_ARGS "ws://127.0.0.1:$PORT/" || status=1
    fi
    if [[ " $SCENARIOS " == *" replay "* ]]; then
        "$LOAD" replay "${OUTPUT[@]}" -l "$store" -p "$REPLAYED" "ws://127.0.0.1:$PORT/" || status=1
    fi
    stop_server
done
exit "$status"
