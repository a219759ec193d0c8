"""scrim itself dies: SIGKILL under load (DESIGN.md invariant 6, issue 5).
Every request that got a 2xx before the kill must have its context records
in the store and its audit entry in the log after a restart, and both must
verify; the restarted proxy recovers the torn segment and serves again."""
import http.client
import os
import shutil
import signal
import threading
import time

from cases_mask import routes
from harness import Upstream, check, form_payload, wait_until


class FormLoad:
    """Threads posting form batches, one session per request, until told to
    stop; remembers which sessions were acknowledged."""

    def __init__(self, ctx, threads):
        self.ctx, self.lock, self.n = ctx, threading.Lock(), 0
        self.acked, self.other, self.stop = [], 0, False
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        while not self.stop:
            with self.lock:
                self.n += 1
                sess = "sess-crash-%d" % self.n
            try:
                r = self.ctx.post("/v1/form", form_payload(sess), timeout=10)
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
            with self.lock:
                if ok:
                    self.acked.append(sess)
                else:
                    self.other += 1

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self):
        self.stop = True
        for t in self.threads:
            t.join(15)


def test_sigkill_under_load_loses_nothing_acknowledged(ctx):
    up = Upstream(ctx).start()
    cfg = ctx.config(routes(up, ("form",)),
                     storage={"dir": "store", "commit_interval": "0ms"})
    s = ctx.scrim(cfg)
    load = FormLoad(ctx, 6).start()
    check(wait_until(lambda: len(load.acked) >= 150, 60),
          "only %d requests acknowledged in 60 s: %s" % (len(load.acked), s.tail(5)))
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    load.join()
    acked = list(load.acked)
    check(len(acked) >= 150, "load stopped early")

    # What was on disk at the kill, before anything repairs it.
    torn, rc, err = ctx.decrypt()
    check(rc != 0 or torn, "nothing in the store after %d acknowledged requests" % len(acked))

    # Restart on the same directories: recovery cuts torn tails, closes the
    # segment with a recovery marker, and the proxy serves again.
    s2 = ctx.scrim(cfg)
    r = ctx.post("/v1/form", form_payload("sess-after-restart"), timeout=10)
    check(r.status == 200, "the restarted proxy does not serve: %r; %s" % (r, s2.tail(5)))
    code = s2.stop()
    check(code == 0, "restarted scrim serve exit %r on SIGTERM" % code)

    recs, rc, err = ctx.decrypt()
    check(rc == 0, "scrim decrypt after recovery exit %d: %s" % (rc, err[:300]))
    sessions = {x.get("session") for x in recs}
    lost = [a for a in acked if ctx.pseudonym(a) not in sessions]
    check(not lost, "%d of %d acknowledged requests have no context record after the crash: %r"
          % (len(lost), len(acked), lost[:5]))
    check(ctx.pseudonym("sess-after-restart") in sessions, "the request after the restart was "
          "not stored")

    why = ctx.audit_verify()
    check(not why, "audit log after the crash: %s" % why)
    entries = ctx.audit_entries()
    ok_entries = [e for e in entries if e["outcome"] in ("forwarded", "spooled", "stored")]
    # one entry per acknowledged request, plus the one after the restart;
    # requests in flight at the kill may have entries too (never fewer)
    check(len(ok_entries) >= len(acked) + 1, "%d acknowledged requests but %d audit entries "
          "with an accepted outcome" % (len(acked) + 1, len(ok_entries)))
    ctx.assert_no_canary([up])
    return "%d acknowledged before SIGKILL (%d failed or cut), all %d in store and audit log " \
           "after recovery" % (len(acked), load.other, len(acked))


def test_retention_sweeps_old_days_and_logs_them(ctx):
    """The proxy's retention sweeper deletes whole days past the tenant's
    retention_days and writes each deletion to the tenant's audit log."""
    up = Upstream(ctx).start()
    cfg = ctx.config(routes(up, ("form",)), tenants=[ctx.tenant("acme", retention_days=7)])
    s = ctx.scrim(cfg)
    r = ctx.post("/v1/form", form_payload("sess-retention-today"), timeout=10)
    check(r.status == 200, "POST /v1/form: %r" % r)
    check(s.stop() == 0, "scrim serve did not exit 0")
    tenant_dir = os.path.join(ctx.dir, "store", "acme")
    days = sorted(os.listdir(tenant_dir))
    check(len(days) == 1, "expected one day in the store, found %r" % days)
    # An old day: a copy of today's segments under a date long past.
    old = os.path.join(tenant_dir, "2020-01-01")
    shutil.copytree(os.path.join(tenant_dir, days[0]), old)
    s2 = ctx.scrim(cfg)
    gone = wait_until(lambda: not os.path.exists(old), 10)
    check(gone, "the day 2020-01-01 (past retention_days 7) was not deleted: %s" % s2.tail(5))
    check(os.path.exists(os.path.join(tenant_dir, days[0])), "today's data was deleted too")
    check(s2.stop() == 0, "restarted scrim serve did not exit 0")
    entries = ctx.audit_entries()
    ret = [e for e in entries if e["outcome"] == "retention"]
    check(len(ret) == 1 and "2020-01-01" in ret[0].get("reason", ""),
          "audit entries of outcome retention: %r" % ret)
    why = ctx.audit_verify()
    check(not why, why)
    return "day 2020-01-01 deleted, logged as %r" % ret[0]["reason"]
