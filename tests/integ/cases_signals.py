"""Operations: start-up and health, SIGHUP reloads, SIGTERM under load, and
the connection limits a slow or greedy client pushes against."""
import http.client
import json
import re
import signal
import socket
import threading
import time

from cases_mask import routes
from cases_upstream import accepted_by_seq, wait_delivered
from harness import (Failure, Upstream, check, form_payload, json_payload, metric,
                     parse_metrics, raw_exchange, raw_status, status_or_none, wait_until)


def test_serve_ready_health_metrics(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up)))
    lines = s.stderr().splitlines()
    check(lines, "scrim serve wrote nothing on stderr")
    for l in lines:
        try:
            json.loads(l)
        except ValueError:
            raise AssertionError("stderr line is not JSON: %r" % l[:120])
    check(any(str(json.loads(l).get("msg", "")).startswith("ready") for l in lines),
          "no log line whose msg starts with 'ready'")
    check(s.admin("/healthz").status == 200, "/healthz is not 200")
    check(s.admin("/readyz").status == 200, "/readyz is not 200")
    r = ctx.post("/v1/json", json_payload(1))
    check(r.status == 200, "POST: %r" % r)
    text = s.metrics()
    for name in ("scrim_requests_total", "scrim_upstream_requests_total", "scrim_spool_items",
                 "scrim_spool_bytes", "scrim_connections"):
        check(re.search(r"^%s[{ ]" % name, text, re.M), "/metrics lacks %s" % name)
    n = metric(text, "scrim_requests_total", status=200, tenant="acme")
    check(n == 1, "scrim_requests_total{tenant=\"acme\",status=\"200\"} = %r after one request" % n)
    n = metric(text, "scrim_upstream_requests_total", result="accepted")
    check(n == 1, "scrim_upstream_requests_total{result=\"accepted\"} = %r" % n)
    check(s.admin("/nope").status == 404, "admin answers an unknown path with non-404")
    check(s.stop() == 0, "scrim serve did not exit 0")
    ctx.assert_no_canary([up])


class Steady:
    """A client posting continuously, on one keep-alive connection and on
    fresh ones alternately, remembering every non-200 outcome."""

    def __init__(self, ctx, path="/v1/json"):
        self.ctx, self.path = ctx, path
        self.stop, self.count, self.errors = False, 0, []
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.ctx.port, timeout=10)
        i = 0
        while not self.stop:
            body = json.dumps(json_payload(10000 + i)).encode()
            h = dict(self.ctx.auth(), **{"Content-Type": "application/json"})
            try:
                if i % 2:
                    conn.request("POST", self.path, body, h)
                    r = conn.getresponse()
                    r.read()
                    status = r.status
                else:
                    status = self.ctx.post(self.path, body).status
                if status != 200:
                    self.errors.append("status %d" % status)
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.ctx.port, timeout=10)
            i += 1
            self.count = i
        conn.close()

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop = True
        self.t.join(15)


def test_sighup_broken_config_keeps_old(ctx):
    up = Upstream(ctx).start()
    cfg = ctx.config(routes(up, ("json",)))
    s = ctx.scrim(cfg)
    check(ctx.post("/v1/json", json_payload(1)).status == 200, "first request failed")
    bad = ctx.config(routes(up, ("json", "form")))
    bad["limits"]["no_such_limit"] = 1  # else valid, and it adds /v1/form
    ctx.write_config(bad)
    s.signal(signal.SIGHUP)
    failed = wait_until(lambda: metric(s.metrics(), "scrim_config_reloads_total",
                                       result="failed") == 1, 5)
    check(failed, "scrim_config_reloads_total{result=\"failed\"} is %r after a bad reload"
          % metric(s.metrics(), "scrim_config_reloads_total", result="failed"))
    check(s.proc.poll() is None, "scrim serve died on a bad reload: %s" % s.tail())
    r = ctx.post("/v1/json", json_payload(2))
    check(r.status == 200, "the old route stopped working after a bad reload: %r" % r)
    r = ctx.post("/v1/form", form_payload("sess-integ-hup"))
    check(r.status == 404, "a route of the refused config is served (%r)" % r)
    check(s.admin("/readyz").status == 200, "/readyz not 200 after a bad reload")
    ctx.write_config({"listen": [{"addr": "127.0.0.1:1"}], "oops": [1, 2]})
    s.signal(signal.SIGHUP)
    check(wait_until(lambda: metric(s.metrics(), "scrim_config_reloads_total",
                                    result="failed") == 2, 5), "second bad reload not counted")
    check(ctx.post("/v1/json", json_payload(3)).status == 200, "old route failed after 2nd bad reload")
    check(any("reload" in l for l in s.stderr().splitlines()), "no log line about the reload")
    check(s.stop() == 0, "scrim serve did not exit 0")
    missing = wait_delivered(up, [1, 2, 3], timeout=2)
    check(not missing, "payloads %r not at the upstream" % missing)


def test_sighup_good_config_switches(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",))))
    check(ctx.post("/v1/form", form_payload("sess-integ-x")).status == 404, "form route before reload")
    new = ctx.config(routes(up, ("json", "form")))
    new["tenants"].append(ctx.tenant("globex"))
    with Steady(ctx) as steady:
        time.sleep(0.5)
        ctx.write_config(new)
        s.signal(signal.SIGHUP)
        switched = wait_until(lambda: ctx.try_post("/v1/form", form_payload("sess-integ-new"),
                                                   tenant="globex") == 200, 5)
        time.sleep(0.5)
    check(switched, "the new route and tenant are not served 5 s after SIGHUP: %s" % s.tail(5))
    check(steady.count > 5, "the steady client sent only %d requests" % steady.count)
    check(not steady.errors, "the steady client saw %d errors during the reload: %r"
          % (len(steady.errors), steady.errors[:5]))
    text = s.metrics()
    okn = sum(v for n, ls, v in parse_metrics(text)
              if n == "scrim_config_reloads_total" and ls.get("result") != "failed")
    check(okn >= 1, "no successful reload counted in scrim_config_reloads_total")
    check(metric(text, "scrim_config_reloads_total", result="failed") in (0, None),
          "a good reload counted as failed")
    recs, _, _ = ctx.decrypt("globex")
    check(any(r.get("session") == ctx.pseudonym("sess-integ-new", "globex") for r in recs),
          "the new tenant's records are not in its store")
    check(s.stop() == 0, "scrim serve did not exit 0")
    why = ctx.audit_verify("globex")
    check(not why, why)
    ctx.assert_no_canary([up])


def raw_post(ctx, seq):
    """One request on a fresh connection: ('refused',), ('status', N),
    ('partial', n bytes) or ('none', why) when nothing came back."""
    body = json.dumps(json_payload(seq)).encode()
    req = ("POST /v1/json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
           % (ctx.keys.api["acme"], len(body))).encode() + body
    try:
        s = socket.create_connection(("127.0.0.1", ctx.port), timeout=15)
    except ConnectionRefusedError:
        return ("refused",)
    got, why = b"", "eof"
    try:
        s.sendall(req)
        while True:
            c = s.recv(65536)
            if not c:
                break
            got += c
    except OSError as e:
        why = repr(e)
    finally:
        s.close()
    if not got:
        return ("none", why)
    head, _, rest = got.partition(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    st = raw_status(got)
    if st is None or not m or len(rest) < int(m.group(1)):
        return ("partial", len(got))
    return ("status", st)


def test_sigterm_under_load(ctx):
    up = Upstream(ctx, delay=0.5).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",)), limits={"drain_timeout": "5s"}))
    results, lock, stop_at = {}, threading.Lock(), []
    seqs = iter(range(100000))

    def client():
        while True:
            with lock:
                seq = next(seqs)
            t0 = time.monotonic()
            out = raw_post(ctx, seq)
            with lock:
                results[seq] = (out, t0)
            if out[0] == "refused" or time.monotonic() > deadline:
                return

    deadline = time.monotonic() + 30
    threads = [threading.Thread(target=client, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    # SIGTERM while a batch is mid-way through the upstream's 0.5 s: those
    # requests are in flight and must still be answered
    wait_until(lambda: len(up.records()) >= 12, 10)
    time.sleep(0.1)
    inflight = set(accepted_by_seq(up))
    stop_at.append(time.monotonic())
    s.signal(signal.SIGTERM)
    readyz = []  # what /readyz said from SIGTERM to the exit, in order
    probe = None  # a new connection once draining: refused, or a clean 503
    while s.proc.poll() is None and time.monotonic() - stop_at[0] < 8:
        try:
            readyz.append(s.admin("/readyz", timeout=1).status)
        except (OSError, http.client.HTTPException):
            readyz.append(None)
        if readyz[-1] == 503 and probe is None:
            probe = raw_post(ctx, 99999)
        time.sleep(0.02)
    try:
        code = s.proc.wait(timeout=max(0.1, 8 - (time.monotonic() - stop_at[0])))
    except Exception:
        code = "still running 8 s after SIGTERM (drain_timeout 5s)"
    took = time.monotonic() - stop_at[0]
    for t in threads:
        t.join(20)
    check(code == 0, "scrim serve exit %r after SIGTERM under load: %s" % (code, s.tail(5)))
    # the signal is handled asynchronously, so 200s may come first; once
    # draining, /readyz must say 503 (the upstream's 0.5 s delay keeps
    # requests in flight long enough to see it)
    first = readyz.index(503) if 503 in readyz else None
    check(first is not None, "/readyz never answered 503 while draining: %r" % readyz[:20])
    check(200 not in readyz[first:], "/readyz went back to 200 while draining: %r" % readyz)
    # a request started 0.3 s before SIGTERM was accepted and is in flight
    # (the upstream takes 0.5 s): it must be finished, with a 200
    before = [(q, o) for q, (o, t0) in results.items() if t0 < stop_at[0] - 0.3]
    check(sum(1 for _, o in before if o == ("status", 200)) >= 5,
          "fewer than 5 requests served before SIGTERM")
    bad_before = [(q, o) for q, o in before if o != ("status", 200)]
    check(not bad_before, "requests before SIGTERM failed: %r" % bad_before[:5])
    check(probe in (("refused",), ("status", 503)), "a new connection once /readyz said 503 "
          "got %r, expected refused (listeners closed) or a 503" % (probe,))
    # "stop accepting" (docs/proxy.md: listeners close at SIGTERM): a new
    # connection while draining is refused, not accepted and then reset
    late = sorted("%+.2fs" % (t0 - stop_at[0]) for q, (o, t0) in results.items()
                  if o[0] == "none" and t0 > stop_at[0] + 0.1)
    check(not late, "%d connections opened while draining were accepted, then closed without "
          "an answer at exit (after SIGTERM: %s); the listeners should close at SIGTERM so "
          "they are refused" % (len(late), ", ".join(late[:6])))
    outcome = {q: o for q, (o, _) in results.items()}
    unanswered = sorted(q for q in inflight if outcome.get(q) != ("status", 200))
    check(not unanswered, "requests in flight at SIGTERM (already at the upstream) did not "
          "get 200: %r" % [(q, outcome.get(q)) for q in unanswered[:5]])
    check(took >= 0.2, "scrim exited %.2fs after SIGTERM, before its in-flight requests "
          "(0.4 s of upstream time left) could finish" % took)
    partial = [(q, o) for q, (o, _) in results.items() if o[0] == "partial"]
    check(not partial, "%d responses were cut mid-response: %r" % (len(partial), partial[:5]))
    odd = [(q, o) for q, (o, _) in results.items() if o[0] == "status" and o[1] not in (200, 503)]
    check(not odd, "unexpected statuses around SIGTERM: %r" % odd[:5])
    ok = sorted(q for q, (o, _) in results.items() if o == ("status", 200))
    missing = wait_delivered(up, ok, timeout=2)
    check(not missing, "%d acknowledged payloads are not at the upstream: %r"
          % (len(missing), missing[:10]))
    delivered = set(accepted_by_seq(up))
    lost = [q for q, (o, _) in results.items() if o[0] == "none" and q in delivered]
    check(not lost, "%d requests were forwarded but the client got no answer (in-flight "
          "requests not finished): %r" % (len(lost), lost[:10]))
    ctx.assert_no_canary([up])
    after = {}
    for q, (o, t0) in results.items():
        if t0 >= stop_at[0] - 0.3:
            k = "%s@%+.2f" % (o[0], t0 - stop_at[0])
            after[k] = after.get(k, 0) + 1
    return "%d served, exit 0 in %.1fs; around and after SIGTERM: %s; /readyz %s" % (
        len(ok), took, after, readyz[:8])


def test_slowloris_header_timeout(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",)), workers=1,
                             limits={"header_timeout": "1s"}))
    req = ("POST /v1/json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
           % ctx.keys.api["acme"]).encode()
    slow = socket.create_connection(("127.0.0.1", ctx.port), timeout=5)
    t0 = time.monotonic()
    closed_after, got, served = None, b"", []

    def normal():
        for seq in (1, 2):
            time.sleep(0.4)
            t = time.monotonic()
            r = ctx.post("/v1/json", json_payload(seq), timeout=5)
            served.append((r.status, time.monotonic() - t))

    nt = threading.Thread(target=normal, daemon=True)
    nt.start()
    for i in range(8):
        try:
            slow.sendall(req[i:i + 1])
        except OSError:
            closed_after = time.monotonic() - t0
            break
        slow.settimeout(1.0)
        try:
            c = slow.recv(4096)
            got += c
            if not c:
                closed_after = time.monotonic() - t0
                break
        except socket.timeout:
            pass
        except OSError:
            closed_after = time.monotonic() - t0
            break
    slow.close()
    nt.join(10)
    check(closed_after is not None, "a client sending one header byte per second was still "
          "connected after 8 s (header_timeout 1s)")
    check(0.8 <= closed_after <= 3.5, "slow client disconnected after %.1fs, header_timeout "
          "is 1s" % closed_after)
    check(raw_status(got) in (None, 408, 400), "slow client got %r" % got[:60])
    check(len(served) == 2 and all(st == 200 and dt < 1.0 for st, dt in served),
          "the normal client was not served promptly meanwhile: %r" % served)
    check(s.stop() == 0, "scrim serve did not exit 0")


def test_slow_body_timeout(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",)), limits={"body_timeout": "1s"}))
    req = ("POST /v1/json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":"
           % ctx.keys.api["acme"]).encode()
    t0 = time.monotonic()
    got, closed = raw_exchange(ctx.port, req, timeout=5)
    took = time.monotonic() - t0
    check(closed and took < 3.5, "a client stalling its body was not disconnected within 3.5 s "
          "(body_timeout 1s): closed=%s after %.1fs" % (closed, took))
    check(took >= 0.8, "disconnected after %.2fs, before body_timeout 1s" % took)
    check(raw_status(got) in (None, 408, 400), "stalled body got %r" % got[:60])
    time.sleep(0.2)
    check(not up.records(), "a truncated body reached the upstream")
    check(s.stop() == 0, "scrim serve did not exit 0")


def test_idle_timeout(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",)), limits={"idle_timeout": "1s"}))
    body = json.dumps(json_payload(1)).encode()
    req = ("POST /v1/json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
           % (ctx.keys.api["acme"], len(body))).encode() + body
    conn = socket.create_connection(("127.0.0.1", ctx.port), timeout=5)
    conn.sendall(req)
    got = b""
    while b"\r\n\r\n" not in got:
        c = conn.recv(65536)
        check(c, "connection closed before the response")
        got += c
    n = int(re.search(rb"content-length: *(\d+)", got, re.I).group(1))
    while len(got.partition(b"\r\n\r\n")[2]) < n:
        got += conn.recv(65536)
    check(raw_status(got) == 200, "keep-alive request got %r" % got[:60])
    t0 = time.monotonic()
    try:
        c = conn.recv(10)
    except OSError:
        c = b""
    took = time.monotonic() - t0
    conn.close()
    check(c == b"" and 0.8 <= took <= 3.5, "an idle keep-alive connection was closed after "
          "%.1fs (idle_timeout 1s), got %r" % (took, c))
    check(s.stop() == 0, "scrim serve did not exit 0")


def test_max_connections_per_ip(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",)), workers=1,
                             limits={"max_connections": 50, "max_connections_per_ip": 4}))
    held = [socket.create_connection(("127.0.0.1", ctx.port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.3)
        try:
            r = ctx.post("/v1/json", json_payload(1), timeout=5)
            outcome = r.status
        except (OSError, http.client.HTTPException) as e:
            outcome = repr(e)
        check(outcome != 200, "a 5th connection from one address was served (limit 4)")
        try:
            n = metric(s.metrics(), "scrim_connections")
        except (OSError, http.client.HTTPException) as e:
            raise Failure("the admin listener refused /metrics while one client address holds "
                          "max_connections_per_ip connections to the proxy listener (%r): "
                          "health checks and scrapes share the clients' limit" % e)
        check(n is not None and n >= 4, "scrim_connections %r with 4 open" % n)
    finally:
        for c in held:
            c.close()
    ok = wait_until(lambda: status_or_none(ctx, "/v1/json", json_payload(2)) == 200, 3, step=0.2)
    check(ok, "after closing the 4 connections a new one is not served")
    check(s.stop() == 0, "scrim serve did not exit 0")
