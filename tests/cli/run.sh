#!/bin/sh
# CLI tests: the real scrim binary, driven by tests/cli/run.py.
exec python3 "$(dirname "$0")/run.py" "$1"
