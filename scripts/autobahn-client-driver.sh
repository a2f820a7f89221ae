#!/usr/bin/env bash
# The client under test for ../shared/autobahn/run-client-suite.sh: asks the fuzzing server for
# its case count, runs `holdfast connect --echo` for every case (with a 16 MiB message limit,
# as case 9.* sends up to 16 MiB), then has the reports written.
# Env: AUTOBAHN_URL and AUTOBAHN_AGENT (exported by the suite), HOLDFAST (the binary).
set -euo pipefail
HOLDFAST="${HOLDFAST:-.build/release/holdfast}"
count=$("$HOLDFAST" connect --no-input "$AUTOBAHN_URL/getCaseCount")
[[ "$count" =~ ^[0-9]+$ ]] || { echo "autobahn driver: bad case count '$count'" >&2; exit 2; }
for ((case = 1; case <= count; case++)); do
    # A case may end the connection in any way; its verdict is the fuzzing server's to give.
    "$HOLDFAST" connect --echo --max-message-size 16777216 "$AUTOBAHN_URL/runCase?case=$case&agent=$AUTOBAHN_AGENT" || true
done
"$HOLDFAST" connect --no-input "$AUTOBAHN_URL/updateReports?agent=$AUTOBAHN_AGENT" > /dev/null
