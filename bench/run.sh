#!/bin/sh
# make bench: the engine benchmark (MB/s per core, medians, side by side).
set -eu
scrim=$1; bdir=$2
echo "command: make bench   ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
"$bdir/bench_engine" "$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/fixtures/rrweb"
echo
echo "store and audit log: records made durable per second (bench/bench_store.c)"
sdir=$(mktemp -d "$bdir/store.XXXXXX")
"$bdir/bench_store" "$sdir"
rm -rf "$sdir"
sh "$(dirname "$0")/proxy.sh" "$scrim"
