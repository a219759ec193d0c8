#!/usr/bin/env python3
"""Audit-log material for the CLI cases, written from docs/audit.md with
hashlib only (no scrim code, no Ed25519 library), so the cases also check
scrim against an independent reading of the format.

  mkaudit.py log DIR N          an unsigned log of N entries (no checkpoint)
  mkaudit.py vkey NAME FILE     a verifier key for a made-up public key
  mkaudit.py proof FILE         an inclusion proof whose checkpoint claims
                                the Go sumdb test key but carries a bad signature
"""
import base64
import hashlib
import json
import os
import sys

T0 = 1714521600000  # 2024-05-01T00:00:00Z


def leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def entry(i, prev):
    e = {"seq": i, "time_ms": T0 + i * 5 * 3600 * 1000, "request": "req-%d" % i,
         "route": "/collect", "format": "rrweb",
         "outcome": "dropped" if i % 7 == 6 else "forwarded",
         "reason": "bad" if i % 7 == 6 else "",
         "rules": [{"id": "card-number", "action": "mask", "count": i % 3}],
         "bytes_in": 100, "bytes_out": 90, "prev": base64.b64encode(prev).decode()}
    return json.dumps(e, separators=(",", ":")).encode()


def make_log(d, n):
    os.makedirs(d, exist_ok=True)
    prev = bytes(32)
    with open(os.path.join(d, "entries"), "wb") as f:
        for i in range(n):
            line = entry(i, prev)
            f.write(line + b"\n")
            prev = leaf(line)
    open(os.path.join(d, "checkpoints"), "wb").close()


def vkey(name, path):
    pk = hashlib.sha256(b"not a real key " + name.encode()).digest()
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pk).digest()[:4]
    with open(path, "w") as f:
        f.write("%s+%s+%s\n" % (name, kid.hex(), base64.b64encode(b"\x01" + pk).decode()))


def proof(path):
    line = entry(0, bytes(32))
    h = base64.b64encode(leaf(line)).decode()
    sig = base64.b64encode(bytes.fromhex("c74f20a3") + bytes(64)).decode()
    with open(path, "w") as f:
        f.write("scrim-audit inclusion proof\norigin scrim/acme\nindex 0\nsize 1\n")
        f.write("leaf %s\nroot %s\nentry %s\n\n" % (h, h, line.decode()))
        f.write("scrim/acme\n1\n%s\n\n\u2014 PeterNeumann %s\n" % (h, sig))


if __name__ == "__main__":
    if sys.argv[1] == "log":
        make_log(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "vkey":
        vkey(sys.argv[2], sys.argv[3])
    else:
        proof(sys.argv[2])
