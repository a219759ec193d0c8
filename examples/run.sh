#!/bin/sh
# make run: scrim on the example config. Makes the example keys on first use,
# validates the config, then masks the sample payloads exactly as the proxy
# would, and shows where the results are.
set -eu
scrim=$1
here=$(cd "$(dirname "$0")" && pwd)
var="$(cd "$here/.." && pwd)/var"
out="$var/run"
mkdir -p "$here/keys" "$out" "$var/audit"
[ -f "$var/audit/audit.key" ] || "$scrim" keys audit --dir "$var/audit"
for t in acme-loans globex-claims; do
    [ -f "$here/keys/$t.pub" ] || "$scrim" keys new --tenant "$t" --dir "$here/keys"
    [ -f "$here/keys/$t.pseudonym" ] || "$scrim" keys pseudonym --tenant "$t" --dir "$here/keys"
done
"$scrim" check -c "$here/scrim.yaml"
echo
"$scrim" redact -c "$here/scrim.yaml" --tenant acme-loans --format form \
    --context "$out/context.jsonl" --audit "$out/audit.jsonl" \
    "$here/payloads/form-loan.json" > "$out/form-loan.masked.json"
"$scrim" redact -c "$here/scrim.yaml" --tenant acme-loans --format json \
    --audit "$out/audit.jsonl" "$here/payloads/profile.json" > "$out/profile.masked.json"
"$scrim" redact -c "$here/scrim.yaml" --tenant acme-loans --format rrweb \
    --context "$out/context.jsonl" --audit "$out/audit.jsonl" \
    "$here/payloads/rrweb-session.json" > "$out/rrweb-session.masked.json"
echo "masked payloads:  $out/form-loan.masked.json, $out/profile.masked.json,"
echo "                  $out/rrweb-session.masked.json"
echo "context records:  $out/context.jsonl"
echo "audit summaries:  $out/audit.jsonl"
echo "sealed store:     $var/store (read it: $scrim decrypt --key $here/keys/acme-loans.key $var/store/acme-loans)"
echo "audit log:        $var/audit/acme-loans (check it: $scrim audit verify --pub $var/audit/audit.pub $var/audit/acme-loans)"
echo
echo "try it yourself:"
echo "  echo '{\"email\":\"jane.doe@example.com\",\"card\":\"4111 1111 1111 1111\"}' | \\"
echo "    $scrim redact -c $here/scrim.yaml --tenant acme-loans --format json"
