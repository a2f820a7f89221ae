#!/usr/bin/env bash
# Sends a file with `holdfast send` to `holdfast serve --mode files`, restarting the server
# RESTARTS times mid-transfer (evenly spaced, when the partial file reaches each share) with
# SIGNAL (TERM: a graceful restart, 1001; KILL: a crash, 1006), and prints what `send` reports:
# throughput, bytes on the wire, where each reconnect resumed and what it sent again.
#
#   scripts/bench-transfer.sh FILE [RESTARTS] [MAX_MESSAGE_SIZE] [SIGNAL]
#   head -c 268435456 /dev/urandom > /tmp/big.bin && scripts/bench-transfer.sh /tmp/big.bin 2 1048576 TERM
#
# Env: HOLDFAST (default .build/release/holdfast), WORK (default a temporary directory).
set -euo pipefail
FILE="$1"; RESTARTS="${2:-0}"; LIMIT="${3:-1048576}"; SIGNAL="${4:-TERM}"
HOLDFAST="${HOLDFAST:-.build/release/holdfast}"
WORK="${WORK:-$(mktemp -d)}"
SIZE="$(stat -c %s "$FILE")"
PORT=0
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT

start_server() {
    rm -f "$WORK/serve.out"
    "$HOLDFAST" serve --port "$PORT" --mode files --files-dir "$WORK/inbox" --max-message-size "$LIMIT" \
        > "$WORK/serve.out" 2>> "$WORK/serve.err" &
    SERVER=$!
    for _ in $(seq 1 600); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.05; done
    PORT="$(head -1 "$WORK/serve.out" | sed 's/.*://')"
    [ -n "$PORT" ] || { echo "the server did not start: $(cat "$WORK/serve.err")" >&2; exit 1; }
}

start_server
"$HOLDFAST" send "ws://127.0.0.1:$PORT/" "$FILE" > "$WORK/send.out" 2> "$WORK/send.err" &
SENDER=$!
for restart in $(seq 1 "$RESTARTS"); do
    target=$(( restart * SIZE / (RESTARTS + 1) ))
    while :; do
        partial="$(ls "$WORK"/inbox/.holdfast-partial/*.data 2>/dev/null | head -1 || true)"
        held="$(stat -c %s "$partial" 2>/dev/null || echo 0)"
        [ "$held" -ge "$target" ] && break
        sleep 0.01
    done
    kill -"$SIGNAL" "$SERVER"; wait "$SERVER" 2>/dev/null || true
    echo "restart $restart (SIG$SIGNAL) with $held bytes in the partial file"
    start_server
done
status=0; wait "$SENDER" || status=$?
cat "$WORK/send.out"; grep -E "MiB/s|^resumed|error" "$WORK/send.err" || true
[ "$status" -eq 0 ] && cmp -s "$FILE" "$WORK/inbox/$(basename "$FILE")" && echo "received file identical" \
    || { echo "send exited $status"; exit 1; }
