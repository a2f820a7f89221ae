#!/usr/bin/env bash
# Streams one very large message through an echo server and reports throughput and the server's
# peak RSS: the 1009 story's memory claim, measured. Uses ../shared/bench's wsload, pinned like
# its run.sh (server on core 0, load on core 1).
#
#   scripts/bench-stream.sh NAME 'COMMAND {port}' SIZE [FRAGMENT] [DURATION]
#   scripts/bench-stream.sh holdfast '.build/release/holdfast serve --port {port} --threads 1 --stream \
#       --max-frame-size 1048576 --max-message-size 1073741824' 256M 1M 10
#
# Env: BENCH_WORK (where ../shared/bench keeps wsload), PORT (default 19400).
set -euo pipefail
NAME="$1"; COMMAND="$2"; SIZE="$3"; FRAGMENT="${4:-1M}"; DURATION="${5:-10}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SHARED="${HOLDFAST_SHARED:-$HERE/../../shared}"
WSLOAD="${BENCH_WORK:-$HOME/.cache/ws-bench}/wsload"
[ -x "$WSLOAD" ] || { echo "no wsload at $WSLOAD: run $SHARED/bench/peers/setup.sh with the same BENCH_WORK" >&2; exit 2; }
PORT="${PORT:-19400}"
LOG="$(mktemp)"
taskset -c 0 bash -c "exec ${COMMAND//\{port\}/$PORT}" > "$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
RESULT="$(taskset -c 1 "$WSLOAD" echo -c 1 -p 1 -s "$SIZE" -F "$FRAGMENT" -m binary -n -d "$DURATION" -w 1 -T 120 -q \
    "ws://127.0.0.1:$PORT/")"
PEAK_KIB="$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")"
echo "$RESULT" | NAME="$NAME" PEAK_KIB="$PEAK_KIB" python3 -c '
import json, os, sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1])
print("%-10s size %5d MiB  fragments %s  messages %3d  %8.1f MiB/s  errors %d  server peak RSS %7.1f MiB" % (
    os.environ["NAME"], r["size"] >> 20, r["frag"], r["msgs"], r["mib_per_s"], r["errors"], int(os.environ["PEAK_KIB"]) / 1024))'
