#!/bin/sh
# make run: scrim serve on the example config, in the foreground (Ctrl-C
# stops it). Makes the example's keys on first use, validates the config,
# starts a stand-in vendor on 127.0.0.1:8081 that records what it receives,
# and prints the curl lines that send the sample payloads.
set -eu
scrim=$1
here=$(cd "$(dirname "$0")" && pwd)
var="$(cd "$here/.." && pwd)/var"
mkdir -p "$here/keys" "$var/audit"
[ -f "$var/audit/audit.key" ] || "$scrim" keys audit --dir "$var/audit"
for t in acme-loans globex-claims; do
    [ -f "$here/keys/$t.pub" ] || "$scrim" keys new --tenant "$t" --dir "$here/keys"
    [ -f "$here/keys/$t.pseudonym" ] || "$scrim" keys pseudonym --tenant "$t" --dir "$here/keys"
done
"$scrim" check -c "$here/scrim.yaml"

python3 "$here/upstream.py" 8081 "$var/upstream.jsonl" &
vendor=$!
trap 'kill $vendor 2>/dev/null' EXIT INT TERM

cat <<MSG

scrim serve: HTTP on 127.0.0.1:8080, admin on 127.0.0.1:9090 (/metrics, /healthz, /readyz)
Send the sample rrweb session (a client with maskAllInputs off: a card number typed in):

  curl -i -H 'Authorization: Bearer demo-acme-key' -H 'Content-Type: application/json' \\
       --data-binary @$here/payloads/rrweb-session.json http://127.0.0.1:8080/v1/rrweb

and a form-events batch:

  curl -i -H 'Authorization: Bearer demo-acme-key' \\
       --data-binary @$here/payloads/form-loan.json http://127.0.0.1:8080/v1/form

What the vendor received (masked):  $var/upstream.jsonl
Sealed context records:             $scrim decrypt --key $here/keys/acme-loans.key $var/store/acme-loans
Signed audit log:                   $scrim audit verify --pub $var/audit/audit.pub $var/audit/acme-loans

MSG
"$scrim" serve -c "$here/scrim.yaml"
