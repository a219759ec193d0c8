#!/bin/sh
# make fuzz: run each libFuzzer target for SECONDS on its committed corpus.
# New inputs go to a scratch directory, so the committed corpus stays the seeds.
set -u
secs=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
fail=0; pass=0
for bin in "$@"; do
    name=$(basename "$bin"); name=${name#fuzz_}
    corpus="$here/corpus/$name"
    scratch=$(mktemp -d)
    dict=""
    [ -f "$here/$name.dict" ] && dict="-dict=$here/$name.dict"
    echo "fuzz $name: ${secs}s on $corpus"
    if "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$scratch/" $dict \
        "$scratch" "$corpus" > "$scratch/log" 2>&1; then
        grep -E 'stat::number_of_executed_units|stat::new_units_added' "$scratch/log" | sed 's/^/    /'
        pass=$((pass + 1))
    else
        tail -40 "$scratch/log"
        echo "fuzz $name: FAILED; artifacts in $scratch"
        fail=$((fail + 1))
        continue
    fi
    rm -rf "$scratch"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
