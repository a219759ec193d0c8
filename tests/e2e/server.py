#!/usr/bin/env python3
"""The local stand-in for the internet during `make e2e`.

One HTTP server on loopback that serves the application form
(tests/e2e/site/), the SDK bundles from tests/e2e/node_modules/, plays the
vendors' endpoints well enough for each SDK to record (PostHog's remote
config, /flags/, /e/, /s/; Sentry's envelope endpoint; an rrweb collector),
and records every request an SDK posts: the raw body bytes as they came
(compression kept) and the headers, under fixtures/<sdk>/. It also serves
the replay page with the events scrim masked. The SDKs never reach their
clouds: posthog's api_host and Sentry's DSN name this server.

Control (used by record.js): POST /__e2e/record?sdk=NAME starts recording
into DIR/NAME/ (emptied first), POST /__e2e/stop writes its manifest.json,
GET /__e2e/requests lists what was recorded so far (paths and sizes).

Standard library only.
"""
import argparse
import json
import mimetypes
import os
import re
import shutil
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = os.path.join(HERE, "site")
NODE_MODULES = os.path.join(HERE, "node_modules")
STEPS = ("personal", "payment", "review", "done")
TOKEN = "phc_e2eDemoProjectToken"

# posthog-js's remote config: recording on, no sampling, no triggers.
PH_CONFIG = {
    "token": TOKEN,
    "supportedCompression": ["gzip", "gzip-js"],
    "hasFeatureFlags": True,
    "autocapture_opt_out": False,
    "capturePerformance": False,
    "autocaptureExceptions": False,
    "analytics": {"endpoint": "/i/v0/e/"},
    "elementsChainAsString": True,
    "heatmaps": False,
    "surveys": False,
    "defaultIdentifiedOnly": True,
    "siteApps": [],
    "sessionRecording": {"endpoint": "/s/", "consoleLogRecordingEnabled": False,
                         "recorderVersion": "v2", "sampleRate": None,
                         "minimumDurationMilliseconds": None, "linkedFlag": None,
                         "networkPayloadCapture": None, "masking": None,
                         "urlTriggers": [], "urlBlocklist": [], "eventTriggers": [],
                         "scriptConfig": None},
}
PH_FLAGS = {"flags": {}, "featureFlags": {}, "featureFlagPayloads": {},
            "errorsWhileComputingFlags": False, "quotaLimited": [],
            "requestId": "00000000-0000-0000-0000-000000000000"}

SENTRY_IMPORTS = {
    "@sentry/browser": "/npm/@sentry/browser/build/npm/esm/prod/index.js",
    "@sentry/core": "/npm/@sentry/core/build/esm/index.js",
    "@sentry/core/browser": "/npm/@sentry/core/build/esm/browser.js",
    "@sentry/browser-utils": "/npm/@sentry/browser-utils/build/esm/index.js",
    "@sentry/conventions/attributes": "/npm/@sentry/conventions/dist/attributes.mjs",
    "@sentry/conventions/metrics": "/npm/@sentry/conventions/dist/metrics.mjs",
    "@sentry/conventions/op": "/npm/@sentry/conventions/dist/op.mjs",
    "@sentry/feedback": "/npm/@sentry/feedback/build/npm/esm/index.js",
    "@sentry/replay": "/npm/@sentry/replay/build/npm/esm/index.js",
    "@sentry/replay-canvas": "/npm/@sentry/replay-canvas/build/npm/esm/index.js",
    "web-vitals": "/npm/web-vitals/dist/web-vitals.js",
}

SDK_TAGS = {
    "rrweb": '<script src="/npm/rrweb/dist/rrweb.umd.min.cjs"></script>\n'
             '<script src="/site/sdk-rrweb.js"></script>',
    "posthog": '<script src="/npm/posthog-js/dist/array.full.js"></script>\n'
               '<script src="/site/sdk-posthog.js"></script>',
    "sentry": '<script type="importmap">%s</script>\n'
              '<script type="module" src="/site/sdk-sentry.js"></script>'
              % json.dumps({"imports": SENTRY_IMPORTS}),
}


class Recorder:
    """The requests of one SDK run, written as they arrive."""

    def __init__(self, base):
        self.base = base
        self.lock = threading.Lock()
        self.sdk = None
        self.items = []
        self.t0 = 0.0

    def start(self, sdk):
        with self.lock:
            d = os.path.join(self.base, sdk)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            self.sdk, self.items, self.t0 = sdk, [], time.monotonic()

    def add(self, method, target, headers, body):
        with self.lock:
            if self.sdk is None:
                return
            path = urllib.parse.urlsplit(target).path
            slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"
            name = "%03d-%s.body" % (len(self.items) + 1, slug)
            with open(os.path.join(self.base, self.sdk, name), "wb") as f:
                f.write(body)
            self.items.append({"file": name, "method": method, "target": target,
                               "headers": headers, "size": len(body),
                               "t_ms": int((time.monotonic() - self.t0) * 1000)})

    def stop(self):
        with self.lock:
            if self.sdk is None:
                return 0
            with open(os.path.join(self.base, self.sdk, "manifest.json"), "w") as f:
                json.dump({"sdk": self.sdk, "requests": self.items}, f, indent=1)
                f.write("\n")
            n, self.sdk = len(self.items), None
            return n

    def listing(self):
        with self.lock:
            return [{"target": i["target"], "size": i["size"]} for i in self.items]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("e2e-server: %s\n" % (fmt % args))

    def send(self, status, body, ctype="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_file(self, root, rel):
        path = os.path.realpath(os.path.join(root, rel))
        if not path.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(path):
            return self.send(404, {"error": "not found"})
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if path.endswith((".js", ".cjs", ".mjs")):
            ctype = "text/javascript"
        with open(path, "rb") as f:
            self.send(200, f.read(), ctype)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        m = re.fullmatch(r"/apply/(%s)" % "|".join(STEPS), u.path)
        if m:
            sdk = q.get("sdk", [""])[0]
            if sdk not in SDK_TAGS:
                return self.send(400, {"error": "sdk must be one of %s" % list(SDK_TAGS)})
            with open(os.path.join(SITE, m.group(1) + ".html")) as f:
                page = f.read().replace("<!--SDK-->", SDK_TAGS[sdk])
            return self.send(200, page, "text/html; charset=utf-8")
        if u.path.startswith("/site/"):
            return self.send_file(SITE, u.path[len("/site/"):])
        if u.path.startswith("/npm/"):
            return self.send_file(NODE_MODULES, urllib.parse.unquote(u.path[len("/npm/"):]))
        if u.path.startswith("/static/"):  # posthog-js loads its recorder here
            return self.send_file(os.path.join(NODE_MODULES, "posthog-js", "dist"),
                                  u.path[len("/static/"):])
        if u.path.startswith("/replay/") and self.server.replay_dir:
            return self.send_file(self.server.replay_dir, u.path[len("/replay/"):])
        if u.path == "/array/%s/config" % TOKEN:
            return self.send(200, PH_CONFIG)
        if u.path == "/array/%s/config.js" % TOKEN:
            js = ("window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {};\n"
                  "window._POSTHOG_REMOTE_CONFIG[%s] = {config: %s, siteApps: []};\n"
                  % (json.dumps(TOKEN), json.dumps(PH_CONFIG)))
            return self.send(200, js, "text/javascript")
        if u.path == "/__e2e/requests":
            return self.send(200, self.server.recorder.listing())
        if u.path == "/favicon.ico":
            return self.send(204, b"", "image/x-icon")
        self.send(404, {"error": "not found"})

    def do_HEAD(self):
        self.do_GET()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self):
        body = self.read_body()
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/__e2e/record":
            self.server.recorder.start(urllib.parse.parse_qs(u.query)["sdk"][0])
            return self.send(200, {"ok": True})
        if u.path == "/__e2e/stop":
            return self.send(200, {"recorded": self.server.recorder.stop()})
        self.server.recorder.add("POST", self.path, list(self.headers.items()), body)
        if u.path in ("/flags/", "/flags", "/decide/"):
            return self.send(200, PH_FLAGS)
        if re.fullmatch(r"/api/\d+/envelope/?", u.path):
            return self.send(200, {"id": "0" * 32})
        self.send(200, {"status": 1})

    def do_OPTIONS(self):
        self.send(204, b"", "text/plain", {
            "Access-Control-Allow-Origin": self.headers.get("Origin", "*"),
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type, Authorization"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--record-dir", default=os.path.join(HERE, "fixtures"))
    ap.add_argument("--replay-dir", default=None, help="served as /replay/")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.recorder = Recorder(a.record_dir)
    srv.replay_dir = a.replay_dir
    srv.verbose = a.verbose
    print("ready %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
