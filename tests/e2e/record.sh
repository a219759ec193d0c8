#!/bin/sh
# make e2e: the browser half of scrim's proof with the real SDKs.
#
#   tests/e2e/record.sh /abs/path/to/scrim [--update]
#
# 1. npm ci into tests/e2e/node_modules (rrweb, posthog-js, @sentry/browser,
#    playwright-core, versions pinned in package-lock.json);
# 2. server.py on loopback serves the form and the SDK bundles and records
#    what each SDK posts; record.js walks the form in Debian's Chromium
#    (headless) once per SDK, into out/fixtures/;
# 3. run_fixtures.py sends that fresh recording through `scrim serve` and
#    checks it (canaries before and after, vendor shape, context records),
#    writing the masked rrweb events to out/masked/;
# 4. record.js replays them in rrweb's Replayer, fails on any error, and
#    screenshots the masked review step into out/replay.png.
#
# --update (or E2E_UPDATE=1) then copies the recording to fixtures/ (what
# `make test` checks) and the screenshot to replay.png, for a commit.
# Exit 0 when every step passed; the output says which did not.
set -eu

SCRIM=${1:?usage: tests/e2e/record.sh /abs/path/to/scrim [--update]}
UPDATE=${E2E_UPDATE:-0}
[ "${2:-}" = "--update" ] && UPDATE=1
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/out
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM

for tool in node npm python3; do
    command -v $tool >/dev/null || { echo "e2e: $tool is missing (apt-get install nodejs npm python3)" >&2; exit 2; }
done
[ -x "$CHROMIUM" ] || { echo "e2e: $CHROMIUM is missing (apt-get install chromium)" >&2; exit 2; }

cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

rm -rf "$OUT"
mkdir -p "$OUT/fixtures" "$OUT/masked"
python3 server.py --record-dir "$OUT/fixtures" --replay-dir "$OUT/masked" >"$OUT/server.out" 2>"$OUT/server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT INT TERM
i=0
until grep -q '^ready ' "$OUT/server.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "e2e: server.py did not start" >&2; cat "$OUT/server.err" >&2; exit 1; }
    sleep 0.1
done
BASE=http://127.0.0.1:$(awk '/^ready /{print $2}' "$OUT/server.out")

status=0
node record.js record "$BASE" rrweb posthog sentry || exit 1
python3 run_fixtures.py "$SCRIM" --fixtures "$OUT/fixtures" --out "$OUT/masked" || status=1
sdks=""
for s in rrweb posthog sentry; do
    [ -s "$OUT/masked/$s.json" ] && sdks="$sdks $s"
done
if [ -z "$sdks" ]; then
    echo "e2e: scrim forwarded no replay to replay" >&2
    status=1
else
    # shellcheck disable=SC2086 # one word per SDK
    node record.js replay "$BASE" "$OUT/replay.png" $sdks || status=1
fi

if [ "$UPDATE" = 1 ]; then
    rm -rf fixtures
    cp -r "$OUT/fixtures" fixtures
    [ -f "$OUT/replay.png" ] && cp "$OUT/replay.png" replay.png
    echo "e2e: fixtures/ and replay.png updated from this recording"
fi
[ $status = 0 ] && echo "e2e: recording, fixture checks and replay passed" || echo "e2e: some steps failed (above)"
exit $status
