#!/usr/bin/env bash
# Builds the DocC documentation of every public module with swift-docc-plugin, and fails on any
# warning (a broken symbol link, an unknown article). The archives land in
# .build/plugins/Swift-DocC/outputs/<Module>.doccarchive.
#
#   bash scripts/docs.sh                      # all modules, warnings are errors
#   bash scripts/docs.sh --target Holdfast    # the plugin's own options pass through
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(--target HoldfastCore --target HoldfastNIO --target Holdfast --target HoldfastCloseCodes --target HoldfastTransfer --target HoldfastChannels --target HoldfastPostgres --target HoldfastBrowser)
[ $# -gt 0 ] && targets=("$@")
swift package --disable-sandbox generate-documentation "${targets[@]}" --warnings-as-errors
