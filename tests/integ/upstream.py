#!/usr/bin/env python3
"""A recording upstream for the integration tests of `scrim serve`.

It stands in for a replay vendor: an HTTP/1.1 server on 127.0.0.1:PORT that
appends every request it receives (method, path, headers, body in base64,
time) as one JSON line to a record file and then answers. It runs as its own
process so a test can SIGKILL it mid-stream and start it again on the same
port; because the record line is written (one write(2) on an O_APPEND file)
before the answer is sent, a request scrim saw accepted is always in the
file, even when the process dies right after answering.

    upstream.py --port P --record FILE [--status 200] [--delay SECONDS]
                [--fail-first N] [--fail-status 503]

--fail-first N answers --fail-status to the first N requests (recorded
too, with "failed": true), then --status. The process prints "ready" on
stdout once the port is bound.
"""
import argparse
import base64
import http.server
import json
import os
import socketserver
import sys
import threading
import time

BODY_MAX = 64 * 1024 * 1024  # refuse absurd bodies instead of reading them


class Recorder:
    def __init__(self, path, fail_first):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.lock = threading.Lock()
        self.fail_left = fail_first

    def take_failure(self):
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return True
            return False

    def record(self, rec):
        line = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        with self.lock:
            os.write(self.fd, line)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "integ-upstream"

    def log_message(self, *args):  # quiet: the record file is the log
        pass

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            return self.read_chunked()
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > BODY_MAX:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n)

    def read_chunked(self):
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()
            if len(out) > BODY_MAX:
                raise ValueError("body too big")

    def handle_any(self):
        cfg = self.server.cfg
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        failed = cfg.recorder.take_failure()
        status = cfg.fail_status if failed else cfg.status
        cfg.recorder.record({
            "method": self.command, "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": base64.b64encode(body).decode(), "time": time.time(),
            "failed": failed, "status": status,
        })
        if cfg.delay:
            time.sleep(cfg.delay)
        answer = b'{"ok":true}' if status < 300 else b'{"error":"upstream"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_POST = do_PUT = do_GET = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-status", type=int, default=503)
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.cfg = args
    args.recorder = Recorder(args.record, args.fail_first)
    print("ready", flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
