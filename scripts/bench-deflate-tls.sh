#!/usr/bin/env bash
# Whole-server benchmarks with permessage-deflate and TLS, side by side (issue #6 item 5):
#   compressed echo  — holdfast, Hummingbird (hb, .perMessageDeflate()) and Python websockets;
#   TLS handshakes/s — holdfast, hb (and websockets);
#   TLS echo         — holdfast, hb.
# In the spirit of ../shared/bench/run.sh (which has neither TLS nor compression): each server
# is started fresh per run pinned to core $SERVER_CPU, loaded by `netload` (Benchmarks/Network)
# pinned to core $CLIENT_CPU, measured from /proc/PID and stopped by PID; rounds are
# interleaved with the server order rotated; medians and ratios to the baseline (hb) of the
# same run go to WORK/results/<timestamp>/summary.md, every run to results.csv. Loopback only.
#
# Usage: scripts/bench-deflate-tls.sh [-r ROUNDS] [-d SECONDS] [-w SECONDS] [-S scenarios]
#                                     [-s servers] [-b baseline] [--no-build] [--smoke]
#   scenarios: deflate-1k,deflate-16k,tls-handshake,tls-small,tls-large (default: all)
#   servers:   holdfast,hb,websockets (each scenario runs those of them it lists)
# Environment: BENCH_WORK (work dir; default ./.bench-work, git-ignored), SERVER_CPU (0),
#   CLIENT_CPU (1), JOBS (build parallelism, default 1), CERT_KEY (ec | rsa; default ec: P-256),
#   NICE (default 0; e.g. -10 as root on a shared machine: server and netload then win their
#   cores from other processes, whatever their thread count).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/.bench-work}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
ROUNDS=3 DURATION=5 WARMUP=1 BASELINE=hb BUILD=1
SCENARIOS=deflate-1k,deflate-16k,tls-handshake,tls-small,tls-large
SERVERS=holdfast,hb,websockets
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1} JOBS=${JOBS:-1} CERT_KEY=${CERT_KEY:-ec} NICE=${NICE:-0}

while [ $# -gt 0 ]; do
    case "$1" in
        -r) ROUNDS=$2; shift 2 ;;
        -d) DURATION=$2; shift 2 ;;
        -w) WARMUP=$2; shift 2 ;;
        -S) SCENARIOS=$2; shift 2 ;;
        -s) SERVERS=$2; shift 2 ;;
        -b) BASELINE=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --smoke) ROUNDS=1 DURATION=1 WARMUP=0.5; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

echo "work dir: $WORK"
NET_PKG=$ROOT/Benchmarks/Network
VENV=$WORK/venv

# --- setup: Python websockets, builds, throwaway certificates ---------------------------------
if ! "$VENV/bin/python" -c 'import websockets' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet websockets
fi
if [ "$BUILD" = 1 ]; then
    swift build -c release -j "$JOBS" --package-path "$ROOT" --product holdfast
    swift build -c release -j "$JOBS" --package-path "$NET_PKG"
fi
HOLDFAST=$(swift build -c release --package-path "$ROOT" --show-bin-path)/holdfast
NET_BIN=$(swift build -c release --package-path "$NET_PKG" --show-bin-path)
NETLOAD=$NET_BIN/netload
HB=$NET_BIN/hb-echo-deflate
for binary in "$HOLDFAST" "$NETLOAD" "$HB"; do
    [ -x "$binary" ] || { echo "missing $binary (build first, or drop --no-build)" >&2; exit 1; }
done

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$WORK/results/$STAMP
mkdir -p "$OUT/raw" "$OUT/certs"
CERTS=$OUT/certs
# A CA and a server certificate for 127.0.0.1, made for this run only.
if [ "$CERT_KEY" = rsa ]; then KEYOPT=(-newkey rsa:2048); else KEYOPT=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1); fi
openssl req -x509 "${KEYOPT[@]}" -nodes -keyout "$CERTS/ca-key.pem" -out "$CERTS/ca.pem" -days 2 \
    -subj "/CN=holdfast bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req "${KEYOPT[@]}" -nodes -keyout "$CERTS/server-key.pem" -out "$CERTS/server.csr" \
    -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$CERTS/server.ext"
openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca-key.pem" -CAcreateserial \
    -days 2 -out "$CERTS/server.pem" -extfile "$CERTS/server.ext" 2>/dev/null
TLS_ARGS="--tls-cert $CERTS/server.pem --tls-key $CERTS/server-key.pem"

# --- scenarios --------------------------------------------------------------------------------
# name | servers it runs | tls (0/1) | netload arguments
scenario_def() {
    case "$1" in
        deflate-1k)    echo "holdfast,hb,websockets|0|echo -c 100 -p 16 -s 1K --payload json --deflate" ;;
        deflate-16k)   echo "holdfast,hb,websockets|0|echo -c 50 -p 4 -s 16K --payload json --deflate" ;;
        tls-handshake) echo "holdfast,hb,websockets|1|handshake -c 50" ;;
        tls-small)     echo "holdfast,hb|1|echo -c 100 -p 16 -s 64 --payload binary" ;;
        tls-large)     echo "holdfast,hb|1|echo -c 4 -p 2 -s 1M --payload binary" ;;
        *) echo "unknown scenario $1" >&2; exit 2 ;;
    esac
}

server_cmd() {  # server port tls
    local tls=""
    [ "$3" = 1 ] && tls=$TLS_ARGS
    case "$1" in
        holdfast)   echo "$HOLDFAST serve --port $2 --threads 1 --max-message-size 134217728 $tls" ;;
        hb)         echo "$HB --port $2 --threads 1 --deflate --max-message-size 134217728 $tls" ;;
        websockets) echo "$VENV/bin/python $NET_PKG/python/websockets_echo.py --port $2 --max-message-size 134217728 $tls" ;;
        *) echo "unknown server $1" >&2; exit 2 ;;
    esac
}

SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
peak_rss_mib() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
CLK_TCK=$(getconf CLK_TCK)

CSV=$OUT/results.csv
echo "scenario,round,server,status,msgs_per_s,mib_per_s,lat_p50_us,lat_p99_us,lat_p999_us,sent_wire_ratio,echo_wire_ratio,echoes_compressed,echoes_uncompressed,verified,errors,server_cpu_pct,client_cpu_pct,peak_rss_mib,loadavg,first_error" > "$CSV"
PORT=$((20000 + RANDOM % 20000))

echo "rounds $ROUNDS, ${DURATION}s per run (+${WARMUP}s warm-up); server on core $SERVER_CPU, netload on core $CLIENT_CPU, nice $NICE; load average $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=, read -r -a scenario_list <<< "$SCENARIOS"
IFS=, read -r -a wanted <<< "$SERVERS"
for scenario in "${scenario_list[@]}"; do
    IFS='|' read -r scenario_servers tls netload_args <<< "$(scenario_def "$scenario")"
    servers=()
    for server in ${scenario_servers//,/ }; do
        for want in "${wanted[@]}"; do [ "$want" = "$server" ] && servers+=("$server"); done
    done
    [ ${#servers[@]} -gt 0 ] || continue
    for round in $(seq 1 "$ROUNDS"); do
        count=${#servers[@]}
        for offset in $(seq 0 $((count - 1))); do
            server=${servers[$(((offset + round - 1) % count))]}
            PORT=$((PORT + 1)); [ $PORT -gt 60000 ] && PORT=20000
            while port_open $PORT; do PORT=$((PORT + 1)); done
            raw=$OUT/raw/$scenario-r$round-$server
            # shellcheck disable=SC2086 # the command is split into words on purpose
            taskset -c "$SERVER_CPU" nice -n "$NICE" $(server_cmd "$server" "$PORT" "$tls") > "$raw.server.log" 2>&1 &
            SERVER_PID=$!
            up=0
            for _ in $(seq 1 200); do
                kill -0 "$SERVER_PID" 2>/dev/null || break
                if port_open $PORT; then up=1; break; fi
                sleep 0.05
            done
            scheme=ws; [ "$tls" = 1 ] && scheme=wss
            status=ok json=""
            if [ "$up" = 1 ]; then
                ticks_before=$(cpu_ticks "$SERVER_PID")
                start_ns=$(date +%s%N)
                # shellcheck disable=SC2086
                if ! timeout $(( ${DURATION%.*} + ${WARMUP%.*} + 60 )) taskset -c "$CLIENT_CPU" nice -n "$NICE" "$NETLOAD" $netload_args \
                        -d "$DURATION" -w "$WARMUP" --ca "$CERTS/ca.pem" -l "$scenario/$server" \
                        "$scheme://127.0.0.1:$PORT/" > "$raw.netload.txt" 2>&1; then
                    status=failed
                fi
                elapsed_ns=$(( $(date +%s%N) - start_ns ))
                if kill -0 "$SERVER_PID" 2>/dev/null; then
                    ticks_after=$(cpu_ticks "$SERVER_PID")
                    server_cpu=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$CLK_TCK" -v ns="$elapsed_ns" 'BEGIN { printf "%.0f", t / hz / (ns / 1e9) * 100 }')
                    rss=$(peak_rss_mib "$SERVER_PID")
                else
                    status=failed server_cpu="" rss=""
                fi
                json=$(grep '^{' "$raw.netload.txt" | tail -1 || true)
            else
                status=failed server_cpu="" rss=""
                echo "  $server did not start listening on port $PORT (see $raw.server.log)" >&2
            fi
            loadavg=$(cut -d' ' -f1 /proc/loadavg)
            cleanup
            row=$(JSON="$json" python3 "$ROOT/scripts/bench-deflate-tls-report.py" --row)
            values=$(echo "$row" | head -1)
            IFS='|' read -r client_cpu first_error <<< "$(echo "$row" | tail -1)"
            echo "$scenario,$round,$server,$status,$values,$server_cpu,$client_cpu,$rss,$loadavg,\"$first_error\"" >> "$CSV"
            printf '%-14s r%s %-10s %-6s %s\n' "$scenario" "$round" "$server" "$status" \
                "$(grep -v '^{' "$raw.netload.txt" 2>/dev/null | head -2 | tr '\n' ' ') server CPU ${server_cpu:-?} %"
        done
    done
done

python3 "$ROOT/scripts/bench-deflate-tls-report.py" "$CSV" "$BASELINE" "$ROUNDS" "$DURATION" > "$OUT/summary.md"
cat "$OUT/summary.md"
echo "results: $OUT"
