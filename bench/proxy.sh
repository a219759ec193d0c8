#!/bin/sh
# The proxy benchmark: scrim against nginx as a pass-through proxy, with wrk.
#
#   sh bench/proxy.sh /abs/path/to/scrim [OUT.md]
#
# Requests per second and latency percentiles for a realistic gzip'd rrweb
# batch through scrim (masking, storage, audit) to a local upstream, the same
# through nginx as a plain pass-through to the same upstream, in one run, with
# the ratio; the p99 at half of scrim's peak (open loop); and scrim's resident
# memory with 10,000 idle keep-alive connections. Prints a markdown table and
# writes it to OUT.md (default: proxy-bench.md next to the scrim binary).
# bench/proxy/run.py does the work; its header says how. Everything runs on
# loopback: nginx runs as this user from a temporary prefix, never as the
# system service, and every process it starts is stopped at the end.
#
# nginx and wrk are installed here when missing (not in scripts/deps.sh:
# `make test` must not need them).
set -eu

[ $# -ge 1 ] || { echo "usage: sh bench/proxy.sh /abs/path/to/scrim [OUT.md]" >&2; exit 2; }
scrim=$1
[ -x "$scrim" ] || { echo "proxy-bench: $scrim is not an executable" >&2; exit 2; }
out=${2:-$(dirname "$scrim")/proxy-bench.md}
here=$(cd "$(dirname "$0")" && pwd)

missing=""
for p in nginx wrk; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "proxy-bench: installing$missing" >&2
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
    # Keep Debian's maintainer scripts from starting nginx as a service.
    rcd=/usr/sbin/policy-rc.d
    made_rcd=0
    if [ ! -e $rcd ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee $rcd >/dev/null && $SUDO chmod 755 $rcd && made_rcd=1
    fi
    rc=0
    { $SUDO apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            $missing; } || rc=$?
    [ $made_rcd = 1 ] && $SUDO rm -f $rcd
    [ $rc = 0 ] || { echo "proxy-bench: could not install$missing" >&2; exit 1; }
fi
PATH=$PATH:/usr/sbin
export PATH

# 10,000 idle connections need as many descriptors in scrim and in the client.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 10100 ]; then
    echo "proxy-bench: open-file hard limit $hard is below 10,100" >&2
    exit 1
fi
ulimit -n "$hard"

exec python3 "$here/proxy/run.py" "$scrim" "$out"
