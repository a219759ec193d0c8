#!/bin/sh
# Run cmocka unit-test binaries; print one total line; fail if any failed.
# usage: run-unit.sh LABEL CONFORMANCE_DIR BIN...
label=$1; shift
export SCRIM_CONFORMANCE=$1; shift
pass=0; fail=0
for t in "$@"; do
    if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t" >&2; fi
done
echo "$label: $pass passed, $fail failed (test programs)"
[ "$fail" -eq 0 ]
