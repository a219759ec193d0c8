"""Journeys across requests: a replay session that goes quiet is recorded
as abandoned by the proxy itself, sealed to the tenant like any request's
records (DESIGN.md "Journey context")."""
import copy
import json
import os
import time

from cases_mask import EXAMPLES, routes
from harness import POLICY, Upstream, check, wait_until


def shifted_session(session):
    """The example rrweb session with its timestamps moved to now."""
    with open(os.path.join(EXAMPLES, "rrweb-session.json")) as f:
        doc = json.load(f)
    last = max(e["timestamp"] for e in doc["events"])
    now = int(time.time() * 1000)
    for e in doc["events"]:  # the last event now: the session is live when it arrives
        e["timestamp"] = now - (last - e["timestamp"])
    doc["session_id"] = session
    return doc


def test_idle_session_recorded_as_abandoned(ctx):
    up = Upstream(ctx).start()
    policy = copy.deepcopy(POLICY)
    policy["journey"]["abandon_after"] = "1s"
    cfg = ctx.config(routes(up, ("rrweb",)), policies={"strict": policy})
    s = ctx.scrim(cfg)
    r = ctx.post("/v1/rrweb", shifted_session("sess-integ-idle"), timeout=10)
    check(r.status == 200, "POST /v1/rrweb: %r; %s" % (r, s.tail()))
    pseud = ctx.pseudonym("sess-integ-idle")

    def abandoned():
        recs, _, _ = ctx.decrypt()
        return [x for x in recs if x.get("session") == pseud and x["type"] == "abandon"]

    check(wait_until(lambda: abandoned(), 10, step=0.5),
          "no abandon record 10 s after a session idle past abandon_after 1s: %s" % s.tail(5))
    rec = abandoned()[0]
    recs, _, _ = ctx.decrypt()
    entered = [x["step"] for x in recs if x.get("session") == pseud and x["type"] == "step_enter"]
    check(entered and rec.get("last_step") == entered[-1],
          "abandon record %r does not name the last step entered (%r)" % (rec, entered))
    check(s.stop() == 0, "scrim serve did not exit 0")
    recs, rc, _ = ctx.decrypt()
    check(rc == 0 and len([x for x in recs if x["type"] == "abandon"]) == 1,
          "after shutdown: %d abandon records (exit %d)"
          % (len([x for x in recs if x["type"] == "abandon"]), rc))
    entries = [e for e in ctx.audit_entries() if e["route"] == "(session expiry)"]
    check(len(entries) == 1 and entries[0]["outcome"] == "stored",
          "audit entries for the expiry: %r" % entries)
    why = ctx.audit_verify()
    check(not why, why)
    ctx.assert_no_canary([up])
    return "abandon record after %s, last step %s, audited as stored" % (
        "1s idle", rec.get("last_step"))
