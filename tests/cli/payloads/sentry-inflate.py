#!/usr/bin/env python3
"""Read a masked Sentry envelope item by item as Relay does (a header line,
then items framed by their explicit length, each followed by a newline or
the end) and print every part, a zlib recording's events inflated. Fails on
a framing error, on a recording that is neither JSON nor one zlib stream,
or when no recording was compressed: a case using this proves the output
kept the SDK's compression with the right lengths and lets the runner look
for canaries inside it."""
import json
import sys
import zlib


def main():
    with open(sys.argv[1], "rb") as f:
        env = f.read()
    head, _, rest = env.partition(b"\n")
    print(json.dumps(json.loads(head)))
    compressed = 0
    while rest:
        line, nl, rest = rest.partition(b"\n")
        if not nl:
            sys.exit("item header without payload")
        hdr = json.loads(line)
        n = hdr["length"]
        if n > len(rest):
            sys.exit("length past the end")
        payload, rest = rest[:n], rest[n:]
        if rest and not rest.startswith(b"\n"):
            sys.exit("payload not followed by a newline")
        rest = rest[1:]
        print(json.dumps(hdr))
        if hdr["type"] != "replay_recording":
            print(json.dumps(json.loads(payload), ensure_ascii=False))
            continue
        seg, _, events = payload.partition(b"\n")
        print(json.dumps(json.loads(seg)))
        if not events.startswith(b"["):
            d = zlib.decompressobj()
            events = d.decompress(events) + d.flush()
            if not d.eof or d.unused_data:
                sys.exit("recording is not one zlib stream")
            compressed += 1
        print(json.dumps(json.loads(events), ensure_ascii=False))
    if compressed == 0:
        sys.exit("no compressed recording in the output")


if __name__ == "__main__":
    main()
