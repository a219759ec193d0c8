#!/usr/bin/env python3
"""A stand-in replay vendor for `make run`: accepts every POST on
127.0.0.1:PORT and appends what it received (path, scrim's request id, the
masked body) as one JSON line to FILE, so you can see what left scrim.

    upstream.py PORT FILE
"""
import http.server
import json
import sys


class Vendor(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        line = {"path": self.path, "request_id": self.headers.get("X-Scrim-Request-Id"),
                "body": json.loads(body)}
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Vendor).serve_forever()
