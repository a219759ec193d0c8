"""The harness of the `scrim serve` integration tests.

Each test gets a Ctx: its own temp directory, its own copy of the suite's
keys, free loopback ports, and helpers to write a config, start the real
binary and the recording upstream (tests/integ/upstream.py, its own process
so it can be SIGKILLed), talk HTTP to scrim (http.client, and raw sockets
for framing and slowloris cases), and look at everything scrim left behind:
what the upstream recorded, the decrypted store (`scrim decrypt` with the
tenant's secret key), the audit log (`scrim audit verify`), stderr and
/metrics. Every process a Ctx starts is killed when the test ends, whatever
happened; run.py also kills any straggler on exit.

Standard library only: CI runs this on a fresh Debian 12 machine.
"""
import base64
import gzip
import hashlib
import http.client
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIM = None  # absolute path of the binary, set by run.py

# The well-known fake values a masked payload must never carry anywhere.
CANARIES = [
    "4111 1111 1111 1111", "4111111111111111", "4111-1111-1111-1111",
    "078-05-1120", "078051120",
    "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432",
    "jane.doe@example.com",
]

_ALL_PROCS = []  # every Popen the suite started, for the last-resort cleanup
_ALL_LOCK = threading.Lock()


class Failure(Exception):
    """A test's assertion failed; the message says what and why."""


class Skip(Exception):
    """The binary lacks what the test needs (reported, not counted)."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def kill_all():
    """Last resort: SIGKILL every process the suite started and reap it."""
    with _ALL_LOCK:
        procs = list(_ALL_PROCS)
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _track(p):
    with _ALL_LOCK:
        _ALL_PROCS.append(p)
    return p


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_TAKEN = set()


def free_port():
    """A loopback port nobody listens on right now, below the kernel's
    ephemeral range: a port the kernel hands out for outgoing connections
    could be taken (or self-connected to by scrim's retries) between the
    moment it is chosen and the moment the test binds it."""
    lo, _ = _ephemeral_range()
    top = lo - 1 if lo > 12000 else 65535
    for _ in range(200):
        port = secrets.randbelow(top - 10000) + 10000
        if port in _TAKEN:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _TAKEN.add(port)
        return port
    raise Failure("no free loopback port found")


def run_scrim(args, timeout=60, **kw):
    return subprocess.run([SCRIM] + args, capture_output=True, timeout=timeout, **kw)


def scrim_version():
    out = run_scrim(["version"]).stdout.decode().split()
    return out[-1] if out else ""


def wait_until(pred, timeout, step=0.05):
    """Poll pred() until it returns a true value or timeout seconds pass."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


# ---------------------------------------------------------------- canaries

def encodings(value):
    """Every form a canary could take in an output."""
    forms = {value, json.dumps(value)[1:-1], urllib.parse.quote(value),
             urllib.parse.quote_plus(value),
             "".join("\\u%04x" % ord(c) for c in value)}
    raw = value.encode()
    for b in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms.add(b.decode().rstrip("="))
    return forms


def readable(data):
    """Text to search: gunzipped when the bytes are gzip, latin-1 otherwise
    so that binary files are searched byte for byte."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            pass
    return data.decode("latin-1")


def find_canaries(text):
    # also with every \uXXXX escape undone, so a value escaped piecemeal
    # ("4111\u002d1111...") is still found
    unescaped = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    hits = []
    for c in CANARIES:
        for form in encodings(c):
            if form in text or form in unescaped:
                hits.append("%r (as %r)" % (c, form))
                break
    return hits


# ---------------------------------------------------------------- YAML

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in ("true", "false", "null", "yes", "no", "on", "off"):
        return s
    return json.dumps(s)


def to_yaml(v, indent=0):
    """Block-style YAML in scrim's subset: sizes and durations stay plain
    scalars (scrim refuses them quoted), everything odd is double-quoted."""
    pad = " " * indent
    lines = []
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(x, indent + 2))
            elif isinstance(x, dict):
                lines.append("%s%s: {}" % (pad, k))
            elif isinstance(x, list):
                lines.append("%s%s: []" % (pad, k))
            else:
                lines.append("%s%s: %s" % (pad, k, _scalar(x)))
    else:
        for x in v:
            if isinstance(x, (dict, list)) and x:
                body = to_yaml(x, indent + 2).lstrip(" ")
                lines.append("%s- %s" % (pad, body))
            else:
                lines.append("%s- %s" % (pad, _scalar(x)))
    return "\n".join(lines)


# ---------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error_word(self):
        j = self.json()
        return j.get("error") if isinstance(j, dict) else None

    def __repr__(self):
        return "HTTP %d %r" % (self.status, self.body[:200])


def http_request(port, method, path, body=b"", headers=None, timeout=10,
                 tls_ctx=None, close=True):
    """One request on a fresh connection; Resp, or an OSError /
    http.client exception when the exchange failed."""
    if tls_ctx is not None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                           context=tls_ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if close:
            hdrs.setdefault("Connection", "close")
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def raw_exchange(port, data, timeout=5.0, tls_ctx=None):
    """Send raw bytes, read until the server closes or timeout seconds of
    silence. Returns (bytes received, closed_by_server)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if tls_ctx is not None:
            s = tls_ctx.wrap_socket(s, server_hostname="127.0.0.1")
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        got, closed = b"", False
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        return got, closed
    finally:
        s.close()


def status_or_none(ctx, path, body, **kw):
    return ctx.try_post(path, body, **kw)


def raw_status(data):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def raw_body(data):
    i = data.find(b"\r\n\r\n")
    return data[i + 4:] if i >= 0 else b""


# ---------------------------------------------------------------- metrics

_METRIC = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(3) or ""))
        try:
            out.append((m.group(1), labels, float(m.group(4))))
        except ValueError:
            pass
    return out


def metric(text, name, **labels):
    """Sum of the samples of name whose labels include labels; None when
    the name does not appear at all."""
    total, seen = 0.0, False
    for n, ls, v in parse_metrics(text):
        if n == name:
            seen = True
            if all(ls.get(k) == str(x) for k, x in labels.items()):
                total += v
    return total if seen else None


# ---------------------------------------------------------------- processes

class Upstream:
    """The recording upstream, as a separate process on a fixed port."""

    def __init__(self, ctx, name="up", **opts):
        self.ctx = ctx
        self.port = free_port()
        self.record = os.path.join(ctx.dir, name + ".jsonl")
        self.opts = opts
        self.proc = None
        open(self.record, "ab").close()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def start(self, **opts):
        args = [sys.executable, os.path.join(HERE, "upstream.py"),
                "--port", str(self.port), "--record", self.record]
        for k, v in dict(self.opts, **opts).items():
            args += ["--" + k.replace("_", "-"), str(v)]
        end = time.monotonic() + 10
        while True:  # the port may linger a moment after a SIGKILL
            p = _track(subprocess.Popen(args, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL))
            self.ctx.procs.append(p)
            r, _, _ = select.select([p.stdout], [], [], 5)
            if r and p.stdout.readline().strip() == b"ready":
                self.proc = p
                return self
            p.kill()
            p.wait()
            if time.monotonic() > end:
                raise Failure("recording upstream did not start on port %d" % self.port)
            time.sleep(0.2)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def records(self):
        out = []
        with open(self.record, "rb") as f:
            for line in f.read().splitlines():
                rec = json.loads(line)
                rec["raw"] = base64.b64decode(rec["body"])
                rec["hdr"] = {}
                for k, v in rec["headers"]:
                    rec["hdr"].setdefault(k.lower(), []).append(v)
                out.append(rec)
        return out

    def bodies(self):
        """The JSON documents the upstream accepted (status < 300)."""
        out = []
        for r in self.records():
            if r["status"] < 300:
                out.append(json.loads(r["raw"]))
        return out


class Scrim:
    """One `scrim serve -c CFG` process; stderr goes to a file."""

    def __init__(self, ctx, cfg):
        self.ctx = ctx
        self.cfg = cfg
        self.log = os.path.join(ctx.dir, "scrim-%d.stderr" % len(ctx.scrims))
        self.proc = None
        ctx.scrims.append(self)

    def start(self, wait_ready=True):
        self.logf = open(self.log, "wb")
        self.proc = _track(subprocess.Popen(
            [SCRIM, "serve", "-c", self.cfg], stdin=subprocess.DEVNULL,
            stdout=self.logf, stderr=self.logf, cwd=self.ctx.dir,
            start_new_session=True))
        self.ctx.procs.append(self.proc)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise Failure("scrim serve exited with %d before it was ready"
                              % self.proc.returncode)
            try:
                return self.admin("/readyz", timeout=1).status == 200
            except (OSError, http.client.HTTPException):
                return False
        if not wait_until(ready, timeout):
            raise Failure("scrim serve: /readyz not 200 within %ds" % timeout)

    def admin(self, path, timeout=5):
        return http_request(self.ctx.admin_port, "GET", path, timeout=timeout)

    def metrics(self):
        r = self.admin("/metrics")
        check(r.status == 200, "GET /metrics answered %d" % r.status)
        text = r.body.decode("utf-8", "replace")
        self.ctx.metrics_seen.append(text)
        return text

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM and wait; the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stderr(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, n=15):
        return "\n".join(self.stderr().splitlines()[-n:])


# ---------------------------------------------------------------- suite keys

class Keys:
    """Keys made once with the real binary and copied into each test."""

    def __init__(self, base):
        self.dir = os.path.join(base, "keys")
        os.mkdir(self.dir)
        for t in ("acme", "globex"):
            for what in ("new", "pseudonym"):
                p = run_scrim(["keys", what, "--tenant", t, "--dir", self.dir])
                if p.returncode:
                    raise RuntimeError("scrim keys %s failed: %s" % (what, p.stderr.decode()))
        p = run_scrim(["keys", "audit", "--dir", self.dir])
        if p.returncode:
            raise RuntimeError("scrim keys audit failed: %s" % p.stderr.decode())
        self.api = {t: "scrim_" + secrets.token_urlsafe(32) for t in ("acme", "globex")}

    def sha(self, tenant):
        return hashlib.sha256(self.api[tenant].encode()).hexdigest()


# ---------------------------------------------------------------- the context

class Ctx:
    """Everything one test owns; close() kills what it started."""

    def __init__(self, base, name, keys):
        self.name = name
        self.dir = os.path.join(base, name)
        os.mkdir(self.dir)
        shutil.copytree(keys.dir, os.path.join(self.dir, "keys"))
        # as an operator would (`scrim keys audit --dir audit` makes it);
        # the store and the spool must make their own directories
        os.mkdir(os.path.join(self.dir, "audit"))
        self.keys = keys
        self.port = free_port()
        self.admin_port = free_port()
        self.procs, self.scrims, self.metrics_seen = [], [], []
        self.cfg_path = os.path.join(self.dir, "scrim.yaml")

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for s in self.scrims:
            if getattr(s, "logf", None):
                s.logf.close()

    def auth(self, tenant="acme"):
        return {"Authorization": "Bearer " + self.keys.api[tenant]}

    def pseudonym(self, session, tenant="acme"):
        """The store's session pseudonym (docs/keys.md), to find a
        request's context records without trusting scrim to say which."""
        with open(os.path.join(self.dir, "keys", tenant + ".pseudonym")) as f:
            key = bytes.fromhex(f.read().strip())
        h = hashlib.blake2b(b"session\x00" + session.encode(), digest_size=16, key=key)
        return base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")

    # -- config

    def config(self, routes, **over):
        """The suite's base config with these routes; over replaces or adds
        top-level keys (limits are merged)."""
        cfg = {
            "listen": [{"addr": "127.0.0.1:%d" % self.port}],
            "admin": "127.0.0.1:%d" % self.admin_port,
            "workers": 2,
            "limits": {"body_max": "256KiB", "decompressed_max": "1MiB",
                       "drain_timeout": "5s"},
            "tenants": [self.tenant("acme")],
            "policies": {"strict": POLICY},
            "routes": routes,
            "storage": {"dir": "store", "commit_interval": "2ms"},
            "audit": {"dir": "audit", "signing_key": "keys/audit.key",
                      "checkpoint_entries": 1},
            "spool": {"dir": "spool", "max_bytes": "64MiB"},
        }
        cfg["limits"].update(over.pop("limits", {}))
        cfg.update(over)
        return {k: v for k, v in cfg.items() if v is not None}

    def tenant(self, tid, **extra):
        t = {"id": tid, "policy": "strict",
             "api_keys": [{"sha256": self.keys.sha(tid)}],
             "public_keys": ["keys/%s.pub" % tid],
             "pseudonym_key": "keys/%s.pseudonym" % tid}
        t.update(extra)
        return t

    def write_config(self, cfg, path=None):
        path = path or self.cfg_path
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        os.replace(tmp, path)  # a reload never reads a half-written file
        return path

    def scrim(self, cfg, wait_ready=True):
        path = self.write_config(cfg)
        p = run_scrim(["check", "-c", path])
        if p.returncode != 0:
            raise Failure("the test's config is refused by scrim check: %s"
                          % p.stderr.decode().strip()[:300])
        return Scrim(self, path).start(wait_ready)

    # -- HTTP to scrim

    def post(self, path, body, headers=None, tenant="acme", **kw):
        h = self.auth(tenant) if tenant else {}
        h.setdefault("Content-Type", "application/json")
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        return http_request(self.port, "POST", path, body, h, **kw)

    def try_post(self, path, body, **kw):
        """The status, or None when the exchange failed."""
        try:
            return self.post(path, body, **kw).status
        except (OSError, http.client.HTTPException):
            return None

    # -- what scrim left behind

    def decrypt(self, tenant="acme"):
        """(records, exit status, stderr) of `scrim decrypt` on the store."""
        path = os.path.join(self.dir, "store", tenant)
        segs = []
        for root, _, files in os.walk(path):
            segs += [f for f in files if f.endswith(".seg")]
        if not segs:
            return [], 0, ""
        p = run_scrim(["decrypt", "--key", os.path.join(self.dir, "keys", tenant + ".key"), path])
        recs = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
        self.decrypted = getattr(self, "decrypted", "") + p.stdout.decode("latin-1")
        return recs, p.returncode, p.stderr.decode("utf-8", "replace")

    def audit_entries(self, tenant="acme"):
        path = os.path.join(self.dir, "audit", tenant, "entries")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(l) for l in f.read().splitlines() if l.strip()]

    def audit_verify(self, tenant="acme"):
        """'' when the tenant's audit log verifies, else why not."""
        logdir = os.path.join(self.dir, "audit", tenant)
        if not os.path.isdir(logdir):
            return "no audit log at audit/%s" % tenant
        p = run_scrim(["audit", "verify", "--pub",
                       os.path.join(self.dir, "keys", "audit.pub"), logdir])
        if p.returncode != 0:
            return "scrim audit verify exit %d: %s" % (
                p.returncode, (p.stdout + p.stderr).decode().strip()[:300])
        return ""

    def canary_report(self, upstreams=()):
        """Where a canary survived: upstream records, every file scrim wrote
        (store, audit, spool, stderr), the decrypted store, /metrics."""
        hits = []
        places = []
        for up in upstreams:
            for r in up.records():
                places.append(("upstream body", readable(r["raw"])))
                places.append(("upstream headers", json.dumps(r["headers"])))
        for sub in ("store", "audit", "spool"):
            for root, _, files in os.walk(os.path.join(self.dir, sub)):
                for f in files:
                    with open(os.path.join(root, f), "rb") as fh:
                        places.append((os.path.relpath(os.path.join(root, f), self.dir),
                                       readable(fh.read())))
        for s in self.scrims:
            places.append(("scrim stderr", s.stderr()))
        store = os.path.join(self.dir, "store")
        for tenant in sorted(os.listdir(store)) if os.path.isdir(store) else []:
            self.decrypt(tenant)  # whatever the test read, read it all now
        places.append(("decrypted store", getattr(self, "decrypted", "")))
        for m in self.metrics_seen:
            places.append(("/metrics", m))
        for where, text in places:
            for h in find_canaries(text):
                hits.append("canary %s in %s" % (h, where))
        return hits

    def assert_no_canary(self, upstreams=()):
        hits = self.canary_report(upstreams)
        check(not hits, "; ".join(hits[:5]))


# The policy every test uses: the strict defaults of the CLI tests (every
# input masked but loan_term, detectors redacting) and the loan journey,
# so form and rrweb payloads yield context records.
POLICY = {
    "inputs": {"allow": ["[name=loan_term]"]},
    "text": [".greeting"],
    "journey": {
        "name": "loan-application",
        "steps": [
            {"name": "personal", "event": "personal", "url": "/apply/personal*"},
            {"name": "payment", "event": "payment", "url": "/apply/payment*"},
            {"name": "review", "event": "review", "url": "/apply/review*"},
        ],
        "complete": {"event": "done"},
    },
}


def json_payload(seq, pad=0):
    """A json-format payload carrying every canary and a marker seq."""
    doc = {"seq": seq, "kind": "integ",
           "user": {"email": "jane.doe@example.com", "card": "4111 1111 1111 1111",
                    "ssn": "078-05-1120", "iban": "GB82 WEST 1234 5698 7654 32"},
           "items": [1, 2, 3]}
    if pad:
        doc["pad"] = ("lorem ipsum dolor sit amet " * (pad // 27 + 1))[:pad]
    return doc


def form_payload(session):
    """A form batch with every canary in values and messages."""
    t = 1764400000000
    return {
        "session": session, "journey": "loan-application",
        "viewport": {"w": 390, "h": 844}, "returning": False,
        "events": [
            {"type": "step", "t": t, "step": "personal"},
            {"type": "input", "t": t + 100, "field": "email", "input_type": "email",
             "value": "jane.doe@example.com"},
            {"type": "validation", "t": t + 200, "field": "email", "state": "invalid",
             "code": "format", "message": "'jane.doe@example.com' is taken"},
            {"type": "input", "t": t + 300, "field": "ssn", "input_type": "text",
             "value": "078-05-1120"},
            {"type": "input", "t": t + 350, "field": "loan_term", "input_type": "select",
             "value": "36 months"},
            {"type": "submit", "t": t + 400, "step": "personal"},
            {"type": "step", "t": t + 500, "step": "payment"},
            {"type": "input", "t": t + 600, "field": "card_number", "input_type": "text",
             "value": "4111 1111 1111 1111"},
            {"type": "input", "t": t + 700, "field": "iban", "input_type": "text",
             "value": "GB82 WEST 1234 5698 7654 32"},
            {"type": "validation", "t": t + 800, "field": "iban", "state": "invalid",
             "code": "checksum", "message": "GB82 WEST 1234 5698 7654 32 failed"},
            {"type": "submit", "t": t + 900, "step": "payment"},
            {"type": "step", "t": t + 1000, "step": "review"},
            {"type": "complete", "t": t + 2000},
        ],
    }


def redact_offline(ctx, fmt, payload):
    """What `scrim redact` makes of payload under the test's config: the
    offline CLI masks exactly as the proxy does (DESIGN.md), so it is the
    reference for what the upstream must receive."""
    cfg = ctx.config([])
    for k in ("storage", "audit", "spool"):
        cfg.pop(k, None)
    path = ctx.write_config(cfg, os.path.join(ctx.dir, "offline.yaml"))
    p = run_scrim(["redact", "-c", path, "--tenant", "acme", "--format", fmt],
                  input=json.dumps(payload).encode())
    check(p.returncode == 0, "scrim redact --format %s exit %d: %s"
          % (fmt, p.returncode, p.stderr.decode()[:200]))
    return json.loads(p.stdout)
