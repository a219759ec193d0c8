#!/usr/bin/env python3
"""Integration tests of `scrim serve`: the real binary on loopback, in front
of a recording upstream (upstream.py), checked from the outside.

    python3 tests/integ/run.py /abs/path/to/scrim [NAME_SUBSTRING...]

Every test gets its own scrim process, ports and directories (harness.Ctx)
and everything it started is killed when it ends, pass or fail. Output: one
line per test (`ok name`, `FAIL name: why`, `skip name: why`) and the
summary `integ: N passed, M failed`; exit 1 if any failed or none passed.
A watchdog ends the run if it hangs, so CI never waits forever.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import harness  # noqa: E402

MODULES = ["cases_mask", "cases_http", "cases_reject", "cases_upstream", "cases_signals",
           "cases_tls", "cases_crash", "cases_journey", "cases_limits"]
SUITE_TIMEOUT = 900  # seconds: far above the normal ~3 minutes, only a hang reaches it


def collect(filters):
    tests = []
    for m in MODULES:
        mod = __import__(m)
        fns = [(n, f) for n, f in vars(mod).items()
               if n.startswith("test_") and callable(f) and f.__module__ == m]
        for name, fn in sorted(fns, key=lambda nf: nf[1].__code__.co_firstlineno):
            short = name[len("test_"):]
            if not filters or any(f in short for f in filters):
                tests.append((short, fn))
    return tests


def has_serve(scrim):
    try:
        p = subprocess.run([scrim, "serve", "--help"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "cannot run %s: %s" % (scrim, e)
    if p.returncode != 0:
        return "%s serve --help exits %d: %s" % (scrim, p.returncode,
                                                  p.stderr.decode().strip().splitlines()[:1])
    return ""


def run_one(base, keys, name, fn):
    """(outcome, message) of one test; its processes are gone afterwards."""
    ctx = harness.Ctx(base, name, keys)
    t0 = time.monotonic()
    try:
        note = fn(ctx)
        ctx.close()
        san = sanitizer_report(ctx)
        if san:
            raise harness.Failure("scrim reported: %s" % san)
        return "ok", (note or ""), time.monotonic() - t0
    except harness.Skip as e:
        return "skip", str(e), time.monotonic() - t0
    except (harness.Failure, AssertionError) as e:
        msg = str(e)
    except Exception as e:  # an unexpected exception is a failure too
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if f.filename.startswith(HERE)]
        msg = "%r at %s" % (e, " < ".join("%s:%d" % (os.path.basename(f.filename), f.lineno)
                                          for f in reversed(frames)))
    finally:
        ctx.close()
    msg = " ".join(msg.split("\n"))  # the FAIL line stays one line
    tails = [s.tail(8) for s in ctx.scrims if s.stderr()]
    if tails:
        msg += "\n    scrim stderr (tail):\n" + "\n".join("      " + l for l in tails[-1].splitlines())
    return "FAIL", msg, time.monotonic() - t0


def sanitizer_report(ctx):
    """The first line of an ASan/UBSan/LSan report in scrim's stderr (a
    sanitizer build run through the suite), or ''."""
    for s in ctx.scrims:
        for line in s.stderr().splitlines():
            if "Sanitizer" in line and "ERROR" in line or "runtime error:" in line:
                return line.strip()[:300]
    return ""


def watchdog():
    time.sleep(SUITE_TIMEOUT)
    print("integ: the suite took over %ds; killing everything" % SUITE_TIMEOUT, flush=True)
    harness.kill_all()
    print("integ: 0 passed, 1 failed", flush=True)
    os._exit(1)


def on_signal(signum, frame):
    raise KeyboardInterrupt


def main():
    if len(sys.argv) < 2:
        print("usage: run.py /abs/path/to/scrim [test-name-substring...]", file=sys.stderr)
        return 2
    harness.SCRIM = os.path.abspath(sys.argv[1])
    why = has_serve(harness.SCRIM)
    if why:
        print("FAIL serve: %s" % why)
        print("integ: 0 passed, 1 failed")
        return 1
    signal.signal(signal.SIGTERM, on_signal)
    threading.Thread(target=watchdog, daemon=True).start()
    base = tempfile.mkdtemp(prefix="scrim-integ-")
    passed = failed = 0
    verbose = os.environ.get("INTEG_VERBOSE")
    try:
        keys = harness.Keys(base)
        for name, fn in collect(sys.argv[2:]):
            outcome, msg, took = run_one(base, keys, name, fn)
            extra = " (%.1fs)" % took if verbose else ""
            if outcome == "ok":
                passed += 1
                print("ok %s%s%s" % (name, ": " + msg if msg and verbose else "", extra), flush=True)
            elif outcome == "skip":
                print("skip %s: %s%s" % (name, msg, extra), flush=True)
            else:
                failed += 1
                print("FAIL %s: %s%s" % (name, msg, extra), flush=True)
    except KeyboardInterrupt:
        failed += 1
        print("FAIL interrupted", flush=True)
    finally:
        harness.kill_all()
        if os.environ.get("INTEG_KEEP"):
            print("integ: kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    print("integ: %d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
