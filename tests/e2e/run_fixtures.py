#!/usr/bin/env python3
"""scrim against what the real SDKs sent: the fixture half of the e2e proof.

    python3 tests/e2e/run_fixtures.py /abs/path/to/scrim [--out DIR] [--keep]

The requests in tests/e2e/fixtures/<sdk>/ (recorded by record.sh from
rrweb, posthog-js and @sentry/browser in Chromium, raw bytes and headers,
compression kept) are sent, in recorded order, to a real `scrim serve` in
front of a recording upstream. Then, per SDK:

  canaries before   every canary is in the raw fixtures (else this proves nothing)
  accepted          scrim answered 200 to every request and forwarded each once
  no canary after   not in what the upstream received (bodies and headers,
                    every encoding decoded fully), nor in the sealed store,
                    the decrypted records, the audit log or scrim's stderr
  vendor shape      rrweb: the same events, types and timestamps; PostHog: the
                    same envelope shape, events and snapshot events; Sentry: the
                    envelope parses, every length is right, the same items
  context records   the steps entered and left (dwell), complete (ttc), the
                    validation error's field and state (and code where the SDK
                    carries one), and no raw session id

--out DIR writes the masked rrweb events of each SDK (DIR/<sdk>.json) for
the replay in the browser (record.sh). Prints a before/after table and
"e2e: N passed, M failed"; exit 1 when anything failed.
Standard library only.
"""
import argparse
import base64
import gzip
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import canary  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")
SDKS = ("rrweb", "posthog", "sentry")
RRWEB_KEY = "e2e-rrweb-demo-key"  # sdk-rrweb.js sends it as a Bearer token
POSTHOG_TOKEN = "phc_e2eDemoProjectToken"
SENTRY_KEY = "0123456789abcdef0123456789abcdef"
HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive",
       "upgrade", "te", "trailer", "proxy-connection"}
STEPS = ("personal", "payment", "review")
SCRIM = None

# The policy a privacy team would put in front of this form: inputs masked
# unless allowed (the loan amount and term are not personal), the greeting
# and the review summary masked as text, PostHog person properties that no
# detector can recognise (a name) pseudonymised, every detector on.
CONFIG = """\
listen:
  - addr: 127.0.0.1:{port}
admin: 127.0.0.1:{admin}
workers: 2
limits:
  body_max: 4MiB
  decompressed_max: 64MiB
tenants:
  - id: e2e-rrweb
    policy: loan
    api_keys:
      - sha256: {rrweb_sha}
    public_keys: [keys/e2e-rrweb.pub]
    pseudonym_key: keys/e2e-rrweb.pseudonym
  - id: e2e-posthog
    policy: loan
    vendor_keys: [{posthog_token}]
    public_keys: [keys/e2e-posthog.pub]
    pseudonym_key: keys/e2e-posthog.pseudonym
  - id: e2e-sentry
    policy: loan
    vendor_keys: [{sentry_key}]
    public_keys: [keys/e2e-sentry.pub]
    pseudonym_key: keys/e2e-sentry.pseudonym
policies:
  loan:
    inputs:
      allow:
        - "select[name=loan_term]"
        - "#loan-amount"
      allow_types: [checkbox]
    text:
      - ".greeting"
      - "[data-private]"
    fields:
      - path: "$..$set.name"
        action: hash
      - path: "$..$set_once.name"
        action: hash
      - path: "$..person_properties.name"
        action: hash
    pii:
      detectors:
        - name: email
          action: hash
        - name: card
        - name: iban
        - name: ssn
        - name: phone
          action: mask
        - name: ipv4
          action: mask
        - name: ipv6
          action: mask
        - name: jwt
        - name: api_key
    journey:
      name: loan-application
      steps:
        - name: personal
          url: "/apply/personal*"
        - name: payment
          url: "/apply/payment*"
        - name: review
          url: "/apply/review*"
      complete:
        url: "/apply/done*"
routes:
  - match: {{method: POST, path: /v1/rrweb}}
    format: rrweb
    tenant: api_key
    upstream: http://127.0.0.1:{up}/rrweb
  - match: {{method: POST, path: "/s/*"}}
    format: posthog
    tenant: vendor
    upstream: http://127.0.0.1:{up}/posthog/s/
  - match: {{method: POST, path: "/e/*"}}
    format: posthog
    tenant: vendor
    upstream: http://127.0.0.1:{up}/posthog/e/
  - match: {{method: POST, path: "/i/v0/e/*"}}
    format: posthog
    tenant: vendor
    upstream: http://127.0.0.1:{up}/posthog/i/v0/e/
  - match: {{method: POST, path: "/flags/*"}}
    format: posthog
    tenant: vendor
    upstream: http://127.0.0.1:{up}/posthog/flags/
  - match: {{method: POST, path: "/api/1/envelope/*"}}
    format: sentry
    tenant: vendor
    upstream: http://127.0.0.1:{up}/sentry/api/1/envelope/
storage:
  dir: store
audit:
  dir: audit
  signing_key: keys/audit.key
  checkpoint_entries: 1
"""

# ---------------------------------------------------------------- results


class Results:
    def __init__(self):
        self.passed, self.failed = [], []

    def check(self, name, problems):
        """problems: a list of strings; empty means the check passed."""
        if problems:
            self.failed.append(name)
            print("FAIL %s" % name)
            for p in problems[:12]:
                print("     %s" % p)
            if len(problems) > 12:
                print("     ... and %d more" % (len(problems) - 12))
        else:
            self.passed.append(name)
            print("ok   %s" % name)


# ---------------------------------------------------------------- processes


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Upstream:
    """The vendor stand-in: records every request scrim forwards."""

    def __init__(self):
        self.records = []
        lock = threading.Lock()
        records = self.records

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while True:
                        n = int(self.rfile.readline().split(b";")[0], 16)
                        if n == 0:
                            self.rfile.readline()
                            break
                        body += self.rfile.read(n)
                        self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    records.append({"path": self.path, "headers": list(self.headers.items()),
                                    "body": body})
                out = b'{"status":1}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    def of(self, sdk):
        prefix = "/rrweb" if sdk == "rrweb" else "/" + sdk + "/"
        return [r for r in self.records if r["path"].startswith(prefix)]


def run(args, **kw):
    return subprocess.run([SCRIM] + args, capture_output=True, timeout=60, **kw)


def make_keys(d):
    keys = os.path.join(d, "keys")
    os.mkdir(keys)
    for sdk in SDKS:
        for what in ("new", "pseudonym"):
            p = run(["keys", what, "--tenant", "e2e-" + sdk, "--dir", keys])
            if p.returncode:
                raise SystemExit("scrim keys %s: %s" % (what, p.stderr.decode()))
    p = run(["keys", "audit", "--dir", keys])
    if p.returncode:
        raise SystemExit("scrim keys audit: %s" % p.stderr.decode())
    os.mkdir(os.path.join(d, "audit"))


def request(port, method, target, headers, body, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, target, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Scrim:
    def __init__(self, d, up_port):
        self.dir = d
        self.port, self.admin = free_port(), free_port()
        self.cfg = os.path.join(d, "scrim.yaml")
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(port=self.port, admin=self.admin, up=up_port,
                                  rrweb_sha=hashlib.sha256(RRWEB_KEY.encode()).hexdigest(),
                                  posthog_token=POSTHOG_TOKEN, sentry_key=SENTRY_KEY))
        p = run(["check", "-c", self.cfg])
        if p.returncode:
            raise SystemExit("scrim check refused the e2e config:\n" + p.stderr.decode())
        self.log = os.path.join(d, "scrim.stderr")
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([SCRIM, "serve", "-c", self.cfg], cwd=d,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit("scrim serve exited with %d:\n%s"
                                 % (self.proc.returncode, self.stderr()[-2000:]))
            try:
                if request(self.admin, "GET", "/readyz", {}, None, timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("scrim serve was not ready within 20 s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def stderr(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


# ---------------------------------------------------------------- fixtures


def load_fixtures(base):
    out = {}
    for sdk in SDKS:
        with open(os.path.join(base, sdk, "manifest.json")) as f:
            man = json.load(f)
        reqs = []
        for r in man["requests"]:
            with open(os.path.join(base, sdk, r["file"]), "rb") as f:
                reqs.append(dict(r, body=f.read()))
        out[sdk] = reqs
    return out


def header_texts(headers):
    texts = []
    for k, v in headers:
        texts += canary.leaves(k) + canary.leaves(v)
    return texts


def header_views(headers):
    texts = []
    for k, v in headers:
        texts += canary.views(k) + canary.views(v)
    return texts


def total(counts):
    return sum(counts.values())


# ---------------------------------------------------------------- decoding


def posthog_json(body, headers=()):
    """A PostHog body as JSON, whichever way it was wrapped."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    st = body.strip()
    if st.startswith(b"data="):
        if b"&" in st:
            raise ValueError("a form body with more than the data field")
        v = urllib.parse.unquote(st[len(b"data="):].decode("ascii"))
        body = base64.b64decode(v + "=" * (-len(v) % 4), validate=True)
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
    return json.loads(body)


def posthog_events(doc):
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("batch"), list):
        return doc["batch"]
    return [doc]


def rrweb_uncompress(ev):
    """A posthog-js rrweb event with its `cv: "2024-10"` fields decoded."""
    if not isinstance(ev, dict) or "cv" not in ev:
        return ev
    ev = dict(ev)
    ev.pop("cv")

    def dec(v):
        if isinstance(v, str):
            return json.loads(gzip.decompress(v.encode("latin-1")))
        return v
    if ev.get("type") == 2:
        ev["data"] = dec(ev.get("data"))
        return ev
    data = dict(ev.get("data") or {})
    for k in ("texts", "attributes", "removes", "adds"):
        if k in data:
            data[k] = dec(data[k])
    ev["data"] = data
    return ev


def snapshot_events(doc):
    """(session id, [rrweb event]) of every recording in a PostHog body."""
    out = []
    for e in posthog_events(doc):
        props = e.get("properties") if isinstance(e, dict) else None
        if isinstance(props, dict) and "$snapshot_data" in props:
            data = props["$snapshot_data"]
            data = data if isinstance(data, list) else [data]
            out += [(props.get("$session_id"), rrweb_uncompress(x)) for x in data]
    return out


def rrweb_events(doc):
    return doc if isinstance(doc, list) else doc.get("events", [])


def shape(events):
    return [(e.get("type"), e.get("timestamp")) for e in events]


# ---------------------------------------------------------------- checks


def check_rrweb(reqs, ups):
    probs, replay, raw = [], [], []
    for r, u in zip(reqs, ups):
        try:
            doc = json.loads(u["body"])
        except ValueError as e:
            probs.append("%s: the upstream body is not JSON (%s)" % (r["file"], e))
            continue
        src = json.loads(r["body"])
        if isinstance(src, dict) and not isinstance(doc, dict):
            probs.append("%s: the {session_id, events} object became %s" % (r["file"], type(doc)))
            continue
        evs = rrweb_events(doc)
        if shape(evs) != shape(rrweb_events(src)):
            probs.append("%s: events (type, timestamp) differ: %d in, %d out"
                         % (r["file"], len(rrweb_events(src)), len(evs)))
        else:
            raw += rrweb_events(src)
            replay += evs
    return probs, replay, raw


def check_posthog(reqs, ups):
    probs, replay, raw = [], [], []
    for r, u in zip(reqs, ups):
        try:
            out = posthog_json(u["body"])
        except (ValueError, OSError) as e:
            probs.append("%s: the upstream body does not decode as PostHog sends it (%s)"
                         % (r["file"], e))
            continue
        src = posthog_json(r["body"])
        if type(out) is not type(src) or (isinstance(src, dict) and
                                          ("batch" in src) != ("batch" in out)):
            probs.append("%s: the batch shape changed" % r["file"])
            continue
        names_in = [e.get("event") for e in posthog_events(src)]
        names_out = [e.get("event") for e in posthog_events(out)]
        if names_in != names_out:
            probs.append("%s: events differ: %s -> %s" % (r["file"], names_in, names_out))
        try:
            sin, sout = snapshot_events(src), snapshot_events(out)
        except (ValueError, OSError) as e:
            probs.append("%s: a snapshot event does not decode (%s)" % (r["file"], e))
            continue
        if shape([e for _, e in sin]) != shape([e for _, e in sout]):
            probs.append("%s: snapshot events (type, timestamp) differ: %d in, %d out"
                         % (r["file"], len(sin), len(sout)))
        else:
            raw += [e for _, e in sin]
            replay += [e for _, e in sout]
    return probs, replay, raw


def check_sentry(reqs, ups):
    probs, replay, raw = [], [], []
    for r, u in zip(reqs, ups):
        env = canary.parse_envelope(u["body"])
        if env is None:
            probs.append("%s: the upstream body is not a well-framed envelope" % r["file"])
            continue
        src = canary.parse_envelope(r["body"])
        types_in = [ih["type"] for ih, _ in src[1]]
        types_out = [ih["type"] for ih, _ in env[1]]
        if types_in != types_out:
            probs.append("%s: items differ: %s -> %s" % (r["file"], types_in, types_out))
            continue
        if env[0].get("event_id") != src[0].get("event_id"):
            probs.append("%s: the envelope header's event_id changed" % r["file"])
        for (ih, p), (sh, sp) in zip(env[1], src[1]):
            if "length" in ih and ih["length"] != len(p):
                probs.append("%s: %s length %s for %d bytes" % (r["file"], ih["type"],
                                                               ih["length"], len(p)))
            if ih["type"] == "replay_recording":
                try:
                    evs = canary.recording_events(p)
                except (ValueError, OSError) as e:
                    probs.append("%s: the recording does not decode (%s)" % (r["file"], e))
                    continue
                src_evs = canary.recording_events(sp)
                if shape(evs) != shape(src_evs):
                    probs.append("%s: recording events (type, timestamp) differ" % r["file"])
                else:
                    raw += src_evs
                    replay += evs
            else:
                try:
                    json.loads(p)
                except ValueError:
                    probs.append("%s: the %s item is not JSON" % (r["file"], ih["type"]))
    return probs, replay, raw


def text_nodes(ev):
    """{node id: textContent} of the text nodes an rrweb event adds."""
    out = {}

    def walk(n):
        if not isinstance(n, dict):
            return
        if n.get("type") == 3 and isinstance(n.get("textContent"), str):
            out[n.get("id")] = n["textContent"]
        for c in n.get("childNodes") or []:
            walk(c)
    data = ev.get("data") if isinstance(ev, dict) else None
    if not isinstance(data, dict):
        return out
    if ev.get("type") == 2:
        walk(data.get("node"))
    elif ev.get("type") == 3 and data.get("source") == 0:
        for a in data.get("adds") or []:
            walk(a.get("node") if isinstance(a, dict) else None)
    return out


def check_layout(raw, masked):
    """Whitespace-only text nodes hold no value but shape the page (between
    grid or flex items, in pre): rrweb's own masking keeps whitespace, and
    a replay whose whitespace became `*` lays out differently."""
    probs = []
    for a, b in zip(raw, masked):
        ta, tb = text_nodes(a), text_nodes(b)
        for nid, t in ta.items():
            if t.strip() == "" and t and tb.get(nid, t) != t:
                probs.append("event at %s: node %s text %r became %r"
                             % (a.get("timestamp"), nid, t, tb.get(nid)))
    return probs


CHECK_SHAPE = {"rrweb": check_rrweb, "posthog": check_posthog, "sentry": check_sentry}


def session_ids(sdk, reqs):
    """The SDK's own session ids, which must never reach the store."""
    ids = set()
    for r in reqs:
        if sdk == "rrweb":
            doc = json.loads(r["body"])
            if isinstance(doc, dict) and doc.get("session_id"):
                ids.add(doc["session_id"])
        elif sdk == "posthog":
            for sid, _ in snapshot_events(posthog_json(r["body"])):
                if sid:
                    ids.add(sid)
        else:
            env = canary.parse_envelope(r["body"])
            for ih, p in env[1]:
                if ih["type"] == "replay_event":
                    ids.add(json.loads(p).get("replay_id"))
    ids.discard(None)
    return ids


def check_context(sdk, recs, raw_ids):
    probs = []
    if not recs:
        return ["no context records for tenant e2e-%s" % sdk]
    by = lambda t: [r for r in recs if r.get("type") == t]  # noqa: E731
    enters = by("step_enter")
    first = {}
    for r in enters:
        first.setdefault(r.get("step"), r.get("t", 0))
    for s in STEPS:
        if s not in first:
            probs.append("no step_enter for step %r" % s)
    if all(s in first for s in STEPS) and not first["personal"] < first["payment"] < first["review"]:
        probs.append("steps entered out of order: %s" % first)
    if enters and not any(r.get("device") == "desktop" for r in enters):
        probs.append("no step_enter says device desktop (the viewport was 1280 px)")
    left = {r.get("step"): r.get("dwell_ms") for r in by("step_leave")}
    for s in STEPS:
        if not (isinstance(left.get(s), int) and left[s] > 0):
            probs.append("no step_leave with dwell_ms > 0 for step %r" % s)
    done = by("complete")
    if not done or not (isinstance(done[0].get("ttc_ms"), int) and done[0]["ttc_ms"] > 0):
        probs.append("no complete record with ttc_ms > 0")
    fs = [r for r in by("field_state") if r.get("field") == "card_expiry"]
    bad = [r for r in fs if r.get("state") == "invalid"]
    if not bad:
        probs.append("no field_state for card_expiry with state invalid (fields seen: %s)"
                     % sorted({r.get("field") for r in by("field_state")}))
    elif sdk == "rrweb" and not any(r.get("code") == "expired" for r in bad):
        # only the rrweb page sends the error code (a custom event); PostHog and
        # Sentry recordings carry the aria-invalid mutation, not a code
        probs.append("the invalid card_expiry field_state has no code 'expired': %s" % bad[0])
    if bad and bad[0].get("step") not in (None, "payment"):
        probs.append("the validation error is recorded on step %r, not payment" % bad[0]["step"])
    sessions = {r.get("session") for r in recs}
    if len(sessions) != 1:
        probs.append("%d session pseudonyms for one session" % len(sessions))
    text = json.dumps(recs)
    for sid in raw_ids:
        if sid in text:
            probs.append("the raw session id is in the records")
    return probs


def decrypt(d, tenant):
    path = os.path.join(d, "store", tenant)
    if not os.path.isdir(path):
        return [], ""
    p = run(["decrypt", "--key", os.path.join(d, "keys", tenant + ".key"), path])
    out = p.stdout.decode("utf-8", "replace")
    recs = []
    for line in out.splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
    return recs, out + p.stderr.decode("utf-8", "replace")


def files_under(d):
    for root, _, files in os.walk(d):
        for f in files:
            yield os.path.join(root, f)


# ---------------------------------------------------------------- main


def send_all(scrim, fixtures):
    """({sdk: [problem]} for requests scrim did not answer 200,
    {sdk: [request it answered 200]})."""
    probs = {sdk: [] for sdk in SDKS}
    ok = {sdk: [] for sdk in SDKS}
    for sdk in SDKS:
        for r in fixtures[sdk]:
            hdrs = {}
            for k, v in r["headers"]:
                if k.lower() not in HOP:
                    hdrs[k] = v
            try:
                st, body = request(scrim.port, r["method"], r["target"], hdrs, r["body"])
            except OSError as e:
                probs[sdk].append("%s %s: %s" % (r["file"], r["target"], e))
                continue
            if st != 200:
                probs[sdk].append("%s %s -> %d %s" % (r["file"], r["target"].split("?")[0],
                                                      st, body[:100].decode("latin-1").strip()))
            else:
                ok[sdk].append(r)
    return probs, ok


def print_table(before, after):
    names = list(canary.CANARIES)
    print("\ncanary occurrences (decoded fully)   " + " ".join("%6s" % n for n in names))
    for sdk in SDKS:
        for label, c in (("before scrim", before[sdk]), ("after scrim", after[sdk])):
            print("  %-8s %-26s %s" % (sdk, label, " ".join("%6d" % c[n] for n in names)))
    print()


def main():
    global SCRIM
    ap = argparse.ArgumentParser(description="scrim against the recorded SDK requests")
    ap.add_argument("scrim", help="absolute path of the scrim binary")
    ap.add_argument("--fixtures", default=FIXTURES)
    ap.add_argument("--out", help="write the masked rrweb events per SDK here")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    a = ap.parse_args()
    SCRIM = os.path.abspath(a.scrim)
    res = Results()
    res.check("the canary search finds every encoding", canary.selftest())
    fixtures = load_fixtures(a.fixtures)

    before = {}
    for sdk in SDKS:
        texts = []
        for r in fixtures[sdk]:
            texts += canary.leaves(r["body"]) + header_texts(r["headers"])
        before[sdk] = canary.count(texts)
        missing = [k for k, v in before[sdk].items() if v == 0]
        res.check("%s: every canary is in the raw fixtures" % sdk,
                  ["%s never appears: the recording proves nothing for it" % k for k in missing])

    d = tempfile.mkdtemp(prefix="scrim-e2e-")
    try:
        return check_all(a, res, fixtures, before, d)
    finally:
        if a.keep:
            print("kept %s" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)


def check_all(a, res, fixtures, before, d):
    up = Upstream()
    make_keys(d)
    scrim = Scrim(d, up.port)
    t0 = time.monotonic()
    try:
        refused, accepted = send_all(scrim, fixtures)
    finally:
        scrim.stop()
        up.stop()
    elapsed = time.monotonic() - t0

    after, replay = {}, {}
    stderr = scrim.stderr()
    for sdk in SDKS:
        ups = up.of(sdk)
        res.check("%s: scrim accepted all %d requests and forwarded each once"
                  % (sdk, len(fixtures[sdk])),
                  refused[sdk] + ([] if len(ups) == len(accepted[sdk]) else
                                  ["the upstream got %d requests for %d accepted"
                                   % (len(ups), len(accepted[sdk]))]))
        views, leaves = [], []
        for u in ups:
            views += canary.views(u["body"]) + header_views(u["headers"])
            leaves += canary.leaves(u["body"]) + header_texts(u["headers"])
        recs, dec_text = decrypt(d, "e2e-" + sdk)
        views += canary.views(dec_text)
        leaves += canary.leaves(dec_text)
        after[sdk] = canary.count(leaves)
        hits = canary.count(views)
        res.check("%s: no canary after scrim (upstream bodies and headers, decrypted store)"
                  % sdk, ["%s found %d times" % (k, v) for k, v in hits.items() if v])
        if len(ups) != len(accepted[sdk]):
            res.check("%s: output still valid for the vendor" % sdk,
                      ["not checked: the upstream did not get one request per accepted one"])
            res.check("%s: masking keeps the layout" % sdk, ["not checked"])
        else:
            probs, replay[sdk], raw = CHECK_SHAPE[sdk](accepted[sdk], ups)
            res.check("%s: output still valid for the vendor (%d requests it accepted)"
                      % (sdk, len(ups)), probs)
            res.check("%s: masking keeps the layout (whitespace-only text unchanged)" % sdk,
                      check_layout(raw, replay[sdk]))
        res.check("%s: context records show steps, validation and timings" % sdk,
                  check_context(sdk, recs, session_ids(sdk, fixtures[sdk])))

    side = []
    for sub in ("store", "audit"):
        for p in files_under(os.path.join(d, sub)):
            with open(p, "rb") as f:
                side.append((os.path.relpath(p, d), f.read()))
    side.append(("scrim stderr", stderr.encode()))
    probs = []
    for where, data in side:
        c = canary.count(canary.views(data))
        probs += ["%s: %s %d times" % (where, k, v) for k, v in c.items() if v]
    res.check("no canary in the store files, audit log or scrim's stderr", probs)
    probs = []
    for sdk in SDKS:
        p = run(["audit", "verify", "--pub", os.path.join(d, "keys", "audit.pub"),
                 os.path.join(d, "audit", "e2e-" + sdk)])
        if p.returncode:
            probs.append("e2e-%s: %s" % (sdk, (p.stdout + p.stderr).decode().strip()[:200]))
    res.check("the audit log of each tenant verifies", probs)

    print_table(before, after)
    print("%d requests through scrim serve in %.1f s" %
          (sum(len(v) for v in fixtures.values()), elapsed))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        for sdk, evs in replay.items():
            with open(os.path.join(a.out, sdk + ".json"), "w") as f:
                json.dump(evs, f)
    print("e2e: %d passed, %d failed" % (len(res.passed), len(res.failed)))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
