#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ and runs each for a bounded time on a copy of its seed
# corpus. Exits non-zero if any target finds a crash, a leak, a timeout or runs out of memory,
# and prints where the reproducer is.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
       scripts/fuzz.sh --help

Builds the fuzz package in Fuzz/ with libFuzzer and AddressSanitizer, then runs
each target for SECONDS (default 60) on a copy of Fuzz/Corpus/TARGET in a
temporary directory: the committed corpus never grows. Targets (default: all):

  FuzzFrames           client frames through a server's ConnectionStateMachine
  FuzzDeflateFrames    the same with permessage-deflate agreed, server or client
  FuzzServerHandshake  a connection's bytes through ServerHandshakeHandler
  FuzzTransferMessage  TransferMessage decoding and its encode/decode round trip

Each run uses -max_total_time=SECONDS -rss_limit_mb=2048 -timeout=10. On a
crash, leak, timeout or out-of-memory the script goes on with the other targets,
then exits 1 and prints each reproducer's path. Replay one with:

  Fuzz/.build/release/TARGET REPRODUCER

The build is:

  swift build -c release --package-path Fuzz \
      -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library

Naming targets builds only those: without FuzzTransferMessage, which alone needs
swift-nio-ssl, a fresh build skips its BoringSSL (about 400 of the 770 C files).

Environment: FUZZ_WORK, a directory for the runs (default: a new temporary one,
kept when something was found); FUZZ_JOBS, build jobs (default: all cores).
USAGE
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
esac

SECONDS_EACH=60
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
    SECONDS_EACH="$1"; shift
fi
ALL_TARGETS=(FuzzFrames FuzzDeflateFrames FuzzServerHandshake FuzzTransferMessage)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
for target in "${TARGETS[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $target "* ]] || { echo "unknown target: $target (see --help)" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/Fuzz"

# The fuzzer runtime ships with the Swift toolchain; nothing to install for it. The root package
# links the system zlib (permessage-deflate), the only apt package the build needs.
command -v swift > /dev/null || { echo "swift is not on PATH" >&2; exit 2; }
if ! dpkg -s zlib1g-dev > /dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq zlib1g-dev
fi
RUNTIME_DIR="$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/clang/lib/linux"
if ! ls "$RUNTIME_DIR"/libclang_rt.fuzzer*.a > /dev/null 2>&1; then
    echo "this Swift toolchain has no libFuzzer runtime in $RUNTIME_DIR" >&2
    exit 2
fi

BUILD=(swift build -c release --package-path "$FUZZ" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
[ -z "${FUZZ_JOBS:-}" ] || BUILD+=(--jobs "$FUZZ_JOBS")
START=$(date +%s)
# Only what the targets link, product by product: not the root package's `holdfast` executable,
# which a whole-package build would also compile and link under the sanitizers for nothing.
# Without FuzzTransferMessage (HoldfastTransfer pulls in swift-nio-ssl), a fresh build also
# skips its copy of BoringSSL, about half the C files.
for target in "${TARGETS[@]}"; do
    echo "== building: ${BUILD[*]} --product $target"
    nice -n 10 "${BUILD[@]}" --product "$target"
done
echo "== built in $(( $(date +%s) - START )) s"
BIN="$("${BUILD[@]}" --show-bin-path)"

WORK="${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/holdfast-fuzz.XXXXXX")}"
mkdir -p "$WORK"
FOUND=()
for target in "${TARGETS[@]}"; do
    dir="$WORK/$target"
    rm -rf "$dir"
    mkdir -p "$dir/artifacts"
    cp -R "$FUZZ/Corpus/$target" "$dir/corpus"
    echo "== $target for $SECONDS_EACH s"
    status=0
    # The outer timeout only guards against a fuzzer that stops honouring -max_total_time.
    timeout --kill-after=10 $(( SECONDS_EACH + 120 )) nice -n 10 "$BIN/$target" "$dir/corpus" \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/" > "$dir/log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/log" | tail -1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$dir/log" | tr '\n' ' ' || true
    echo
    if [ "$status" -ne 0 ]; then
        echo "!! $target failed (exit $status); its log: $dir/log"
        grep -E 'ERROR: |SUMMARY: |Fatal error|fuzz invariant' "$dir/log" | head -5 || true
        artifacts=("$dir"/artifacts/*)
        if [ -e "${artifacts[0]}" ]; then
            for artifact in "${artifacts[@]}"; do
                echo "!! reproducer: $artifact"
                echo "!!   replay: $BIN/$target $artifact"
            done
        else
            echo "!! no reproducer was written (the run itself timed out or was killed)"
        fi
        FOUND+=("$target")
    fi
done

if [ ${#FOUND[@]} -gt 0 ]; then
    echo "== failed: ${FOUND[*]} (runs kept in $WORK)"
    exit 1
fi
[ -n "${FUZZ_WORK:-}" ] || rm -rf "$WORK"
echo "== ${#TARGETS[@]} targets ran $SECONDS_EACH s each without a finding"
