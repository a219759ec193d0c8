#!/bin/sh
# make bench: the engine benchmark (MB/s per core, medians, side by side).
set -eu
scrim=$1; bdir=$2
echo "command: make bench   ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
"$bdir/bench_engine"
sh "$(dirname "$0")/proxy.sh" "$scrim"
