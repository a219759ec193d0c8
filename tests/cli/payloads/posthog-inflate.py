#!/usr/bin/env python3
"""Print what PostHog's player inflates of a masked capture body: the
fields of every recording event marked cv "2024-10" (a full snapshot's data,
a mutation's or stylesheet rule's lists), each gzip of JSON stored as a
latin1 string. Fails when the body holds no such field, or one does not
inflate to JSON: a case using this proves the output kept PostHog's encoding
and lets the runner look for canaries inside it."""
import gzip
import json
import sys

LISTS = ("texts", "attributes", "removes", "adds")


def fields(body):
    events = body if isinstance(body, list) else body.get("batch", [body])
    for ev in events:
        data = (ev.get("properties") or {}).get("$snapshot_data")
        for rr in data if isinstance(data, list) else [data] if data else []:
            if rr.get("cv") != "2024-10":
                continue
            if isinstance(rr.get("data"), str):
                yield rr["data"]
            elif isinstance(rr.get("data"), dict):
                for k in LISTS:
                    if isinstance(rr["data"].get(k), str):
                        yield rr["data"][k]


def main():
    with open(sys.argv[1], "rb") as f:
        body = json.loads(f.read())
    n = 0
    for s in fields(body):
        print(json.dumps(json.loads(gzip.decompress(s.encode("latin-1"))), ensure_ascii=False))
        n += 1
    if n == 0:
        sys.exit("no compressed recording field in the output")


if __name__ == "__main__":
    main()
