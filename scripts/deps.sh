#!/bin/sh
# Install the Debian 12 packages scrim builds and tests with, when missing.
# Run by `make deps` (and so by make, make test, make run). Needs root for apt.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev clang-format
libyaml-dev libpcre2-dev libsodium-dev libssl-dev
libevent-dev libcurl4-openssl-dev libdeflate-dev node-llhttp
libcmocka-dev libjansson-dev python3 xxd openssl curl"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
