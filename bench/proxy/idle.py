#!/usr/bin/env python3
"""Hold N idle keep-alive connections open to a server, for its RSS.

    idle.py HOST PORT N REQFILE [--concurrency C] [--no-request]

Opens N TCP connections; on each, sends the one complete raw HTTP request
in REQFILE (at most C at a time, so the server's in-flight budget is not
what is measured) and reads the answer, then leaves the connection open and
silent: a kept-alive connection between two batches of a browser SDK.
With --no-request the connections are opened and left silent at once (what
a connection costs before its first request).
Prints "READY opened=.. ok=.. non2xx=.. errors=.." once every connection has
had its answer, then holds them all until stdin closes, and exits 1 if any
request failed. Raises its own open-file limit to the hard limit.
"""
import argparse
import asyncio
import resource
import sys


async def one(host, port, req, sem, stats, conns, send):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        stats["errors"] += 1
        return
    conns.append(writer)
    stats["opened"] += 1
    if not send:
        return
    async with sem:
        try:
            writer.write(req)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                if name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                    stats["closed_by_server"] += 1
            await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            stats["errors"] += 1
            return
    stats["ok" if 200 <= status < 300 else "non2xx"] += 1


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("reqfile")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--no-request", action="store_true")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(a.reqfile, "rb") as f:
        req = f.read()
    stats = dict(opened=0, ok=0, non2xx=0, errors=0, closed_by_server=0)
    conns = []
    sem = asyncio.Semaphore(a.concurrency)
    # Connect in waves so the listen backlog is never the bottleneck.
    wave = 500
    for start in range(0, a.n, wave):
        await asyncio.gather(*(one(a.host, a.port, req, sem, stats, conns, not a.no_request)
                               for _ in range(start, min(a.n, start + wave))))
    print("READY " + " ".join("%s=%d" % kv for kv in stats.items()), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for w in conns:
        w.close()
    bad = stats["errors"] or stats["non2xx"] or stats["closed_by_server"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
