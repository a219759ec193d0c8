"""An upstream that dies: acknowledged means delivered (DESIGN.md invariant
6). Payloads carry a unique {"seq": N} marker, which survives masking, so
each 2xx the client saw is matched with what the upstream received."""
import http.client
import json
import threading
import time

from cases_mask import routes
from harness import Upstream, check, json_payload, metric, wait_until

DELIVERY_WAIT = 60  # seconds the spool may take to drain to a restarted upstream


def accepted_by_seq(up):
    """seq -> [request ids] of the deliveries the upstream accepted."""
    out = {}
    for r in up.records():
        if r["status"] >= 300:
            continue
        seq = json.loads(r["raw"]).get("seq")
        out.setdefault(seq, []).append((r["hdr"].get("x-scrim-request-id") or [""])[0])
    return out


def wait_delivered(up, seqs, timeout=DELIVERY_WAIT):
    want = set(seqs)
    wait_until(lambda: want <= set(accepted_by_seq(up)), timeout, step=0.25)
    return sorted(want - set(accepted_by_seq(up)))


def diagnose(up, s):
    """What to look at when deliveries are missing."""
    recs = up.records()
    try:
        text = s.metrics()
        m = {k: metric(text, "scrim_upstream_requests_total", result=k)
             for k in ("accepted", "failed", "spooled", "resent")}
        m["spool_items"] = metric(text, "scrim_spool_items")
    except Exception as e:  # the report must not hide the failure
        m = repr(e)
    return "upstream records %d (%d refused by it), upstream alive %s; scrim %s" % (
        len(recs), sum(1 for r in recs if r["status"] >= 300),
        up.proc is not None and up.proc.poll() is None, m)


def check_ids(up, allow_resend):
    """Each seq under one request id, no id on two seqs; a seq delivered
    twice (a re-send after a lost answer) must carry the same id."""
    by_seq = accepted_by_seq(up)
    owner, resent = {}, 0
    for seq, ids in by_seq.items():
        check(len(set(ids)) == 1, "seq %r arrived under different request ids %r" % (seq, ids))
        check(ids[0] not in owner, "request id %s on seq %r and seq %r" % (ids[0], owner.get(ids[0]), seq))
        owner[ids[0]] = seq
        resent += len(ids) - 1
    check(allow_resend or resent == 0, "%d deliveries repeated with no upstream failure" % resent)
    return resent


class Load:
    """Threads posting json payloads with consecutive seqs to /v1/json."""

    def __init__(self, ctx, total, threads, pad=0):
        self.ctx, self.total, self.pad = ctx, total, pad
        self.next, self.lock = 0, threading.Lock()
        self.results = {}  # seq -> status or repr(exception)
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def take(self):
        with self.lock:
            if self.next >= self.total:
                return None
            self.next += 1
            return self.next - 1

    def run(self):
        while True:
            seq = self.take()
            if seq is None:
                return
            try:
                r = self.ctx.post("/v1/json", json_payload(seq, self.pad), timeout=20)
                self.results[seq] = r.status
            except (OSError, http.client.HTTPException) as e:
                self.results[seq] = repr(e)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout=120):
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, end - time.monotonic()))
        check(not any(t.is_alive() for t in self.threads), "load threads did not finish")

    def sent(self):
        return self.next

    def ok(self):
        return sorted(s for s, v in self.results.items() if v == 200)


def test_upstream_killed_midstream(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",))))
    load = Load(ctx, 200, 4).start()
    wait_until(lambda: load.sent() >= 50, 30)
    up.kill()
    killed_at = load.sent()
    time.sleep(1.0)
    up.start()
    load.join()
    bad = {k: v for k, v in load.results.items() if v != 200}
    check(not bad, "%d of 200 requests did not get 200 (a spool is configured): %r; %s"
          % (len(bad), dict(list(bad.items())[:5]), s.tail(5)))
    check(killed_at < 190, "the upstream was killed too late (after %d) to test anything" % killed_at)
    missing = wait_delivered(up, load.ok())
    check(not missing, "%d acknowledged payloads never reached the upstream within %ds: %r; %s"
          % (len(missing), DELIVERY_WAIT, missing[:10], diagnose(up, s)))
    resent = check_ids(up, allow_resend=True)
    spooled = metric(s.metrics(), "scrim_upstream_requests_total", result="spooled")
    check(spooled and spooled >= 1, "no payload was spooled while the upstream was dead "
          "(scrim_upstream_requests_total{result=\"spooled\"} %r): the kill tested nothing"
          % spooled)
    items = wait_until(lambda: metric(s.metrics(), "scrim_spool_items") == 0, 10)
    check(items, "scrim_spool_items is %r after the drain" % metric(s.metrics(), "scrim_spool_items"))
    check(s.stop() == 0, "scrim serve did not exit 0")
    why = ctx.audit_verify()
    check(not why, why)
    ctx.assert_no_canary([up])
    return "200 acknowledged, %d spooled, all delivered, %d idempotent re-sends" % (
        spooled, resent)


def test_spool_full(ctx):
    up = Upstream(ctx)  # not started: the upstream is down from the start
    s = ctx.scrim(ctx.config(routes(up, ("json",)), spool={"dir": "spool", "max_bytes": "1MiB"}))
    statuses, full = [], None
    for seq in range(200):  # ~32 KiB each: a 1 MiB spool fills in ~32
        r = ctx.post("/v1/json", json_payload(seq, 32 * 1024), timeout=20)
        statuses.append(r.status)
        if r.status != 200:
            full = r
            break
    check(full is not None, "200 payloads of 32 KiB to a down upstream with a 1 MiB spool "
          "never got a 503: %s" % s.tail(5))
    check(full.status == 503, "spool full answered %r, expected 503" % full)
    ra = full.headers.get("retry-after", "")
    check(ra.isdigit() and int(ra) >= 1, "503 without Retry-After seconds: %r" % ra)
    ok = [i for i, c in enumerate(statuses) if c == 200]
    check(len(ok) >= 10, "only %d payloads were spooled before 503 (1 MiB holds ~30)" % len(ok))
    # the gauges may be refreshed on a tick, not at each request
    wait_until(lambda: metric(s.metrics(), "scrim_spool_items") == len(ok), 5, step=0.2)
    text = s.metrics()
    check(metric(text, "scrim_spool_items") == len(ok), "scrim_spool_items %r, expected %d"
          % (metric(text, "scrim_spool_items"), len(ok)))
    nbytes = metric(text, "scrim_spool_bytes")
    check(nbytes is not None and 0 < nbytes <= 1024 * 1024, "scrim_spool_bytes %r" % nbytes)
    up.start()
    missing = wait_delivered(up, ok)
    check(not missing, "%d spooled payloads never reached the upstream within %ds: %r; %s"
          % (len(missing), DELIVERY_WAIT, missing[:10], diagnose(up, s)))
    check(len(ok) not in accepted_by_seq(up), "the payload refused with 503 was forwarded")
    first = []
    for r in up.records():
        seq = json.loads(r["raw"]).get("seq")
        if seq not in first:
            first.append(seq)
    check(first == ok, "spooled payloads arrived out of order: %r" % first[:40])
    check_ids(up, allow_resend=False)
    drained = wait_until(lambda: metric(s.metrics(), "scrim_spool_items") == 0, 10)
    check(drained, "scrim_spool_items %r after the drain" % metric(s.metrics(), "scrim_spool_items"))
    check(metric(s.metrics(), "scrim_upstream_requests_total", result="resent") == len(ok),
          "scrim_upstream_requests_total{result=\"resent\"} is not %d" % len(ok))
    r = ctx.post("/v1/json", json_payload(1000))
    check(r.status == 200, "after the drain a new payload got %r" % r)
    check(s.stop() == 0, "scrim serve did not exit 0")
    why = ctx.audit_verify()
    check(not why, why)
    ctx.assert_no_canary([up])
    return "%d spooled before 503, all delivered in order" % len(ok)


def test_spool_survives_restart(ctx):
    up = Upstream(ctx)  # down while the first scrim runs
    cfg = ctx.config(routes(up, ("json",)))
    s = ctx.scrim(cfg)
    for seq in range(5):
        r = ctx.post("/v1/json", json_payload(seq), timeout=20)
        check(r.status == 200, "payload %d to a down upstream got %r (a spool is set)" % (seq, r))
    check(s.stop() == 0, "scrim serve did not exit 0 with a non-empty spool")
    up.start()
    s2 = ctx.scrim(cfg)
    missing = wait_delivered(up, range(5), timeout=30)
    check(not missing, "payloads spooled before a restart were not delivered after it: %r; %s"
          % (missing, diagnose(up, s2)))
    check_ids(up, allow_resend=False)
    first = []
    for r in up.records():
        seq = json.loads(r["raw"]).get("seq")
        if seq not in first:
            first.append(seq)
    check(first == list(range(5)), "delivered out of order after the restart: %r" % first)
    check(s2.stop() == 0, "scrim serve did not exit 0")
    ctx.assert_no_canary([up])


def test_upstream_5xx_is_spooled(ctx):
    up = Upstream(ctx, fail_first=3).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",))))
    r = ctx.post("/v1/json", json_payload(1))
    check(r.status == 200, "a payload whose upstream answers 503 got %r (a spool is set)" % r)
    missing = wait_delivered(up, [1], timeout=30)
    check(not missing, "the payload never reached the upstream after its 503s")
    ids = {(r["hdr"].get("x-scrim-request-id") or [""])[0] for r in up.records()}
    check(len(ids) == 1, "re-sends after 503 carried different request ids: %r" % ids)
    check(s.stop() == 0, "scrim serve did not exit 0")


def test_no_spool_upstream_down(ctx):
    up = Upstream(ctx)  # never started
    s = ctx.scrim(ctx.config(routes(up, ("json",)), spool=None))
    r = ctx.post("/v1/json", json_payload(1), timeout=30)
    check(r.status in (502, 503), "upstream down and no spool answered %r, expected 502/503" % r)
    if r.status == 503:
        ra = r.headers.get("retry-after", "")
        check(ra.isdigit(), "503 without Retry-After: %r" % ra)
    check(r.error_word(), "error body %r is not {\"error\":...}" % r.body[:80])
    entries = ctx.audit_entries()
    check(entries and entries[-1]["outcome"] == "dropped",
          "the lost payload has no 'dropped' audit entry: %r" % [e["outcome"] for e in entries])
    check(s.stop() == 0, "scrim serve did not exit 0")
    ctx.assert_no_canary([up])
