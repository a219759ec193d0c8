"""Masking end to end: a payload full of canaries goes in, 200 comes back,
the upstream got the masked body (the same the offline CLI makes, structure
kept, values masked, with scrim's own headers and none of the client's),
the store decrypts to the context records of that request, the audit log
verifies, and no canary is anywhere."""
import base64
import gzip
import json
import os
import re
import time

from harness import (CANARIES, Skip, Upstream, check, find_canaries, form_payload,
                     json_payload, readable, redact_offline, run_scrim, scrim_version,
                     wait_until)

FORMATS = {"json": "/v1/json", "form": "/v1/form", "rrweb": "/v1/rrweb"}
CLIENT_ID = "0123456789abcdef"  # a client's attempt to pick scrim's request id
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples", "payloads")


def test_canary_detector_self_check(ctx):
    """The harness's canary search finds every canary in every encoding the
    suite claims to check (else every no-canary assertion proves nothing)."""
    for c in CANARIES:
        forms = {"plain": c.encode(), "json": json.dumps({"v": c + '"'}).encode(),
                 "unicode-escaped": json.dumps(c, ensure_ascii=True).encode().replace(
                     b"-", b"\\u002d"),
                 "base64": base64.b64encode(c.encode()), "gzip": gzip.compress(c.encode())}
        for how, data in forms.items():
            check(find_canaries(readable(b"x" + data if how != "gzip" else data)),
                  "the canary search misses %r written %s" % (c, how))
    check(not find_canaries("[REDACTED:card] ****"), "the canary search flags masked text")


def routes(up, formats=("json", "form", "rrweb"), **extra):
    out = []
    for f in formats:
        r = {"match": {"method": "POST", "path": FORMATS.get(f, "/v1/" + f)},
             "format": f, "tenant": "api_key", "upstream": up.url("/in/" + f)}
        r.update(extra)
        out.append(r)
    return out


def one_forwarded(up, path, ctype="application/json"):
    """The one record the upstream got, checked for scrim's forwarding
    contract (URL, method, headers). A Sentry envelope is not JSON, so it
    goes on as application/x-sentry-envelope."""
    recs = wait_until(lambda: up.records(), 2)
    check(len(recs) == 1, "upstream got %d requests, expected 1" % len(recs))
    r = recs[0]
    check(r["method"] == "POST" and r["path"] == path,
          "upstream got %s %s, expected POST %s" % (r["method"], r["path"], path))
    h = r["hdr"]
    check(h.get("content-type", [""])[0].split(";")[0].strip() == ctype,
          "upstream Content-Type %r, expected %s" % (h.get("content-type"), ctype))
    rid = h.get("x-scrim-request-id", [])
    check(len(rid) == 1 and re.fullmatch(r"[0-9a-f]{16}", rid[0]),
          "X-Scrim-Request-Id %r is not one 16-hex id" % rid)
    check(rid[0] != CLIENT_ID, "the client chose the request id (X-Scrim-Request-Id passed through)")
    ua = h.get("user-agent", [""])[0]
    check(ua == "scrim/" + scrim_version(), "User-Agent %r, expected scrim/<version>" % ua)
    for bad in ("cookie", "authorization", "x-forwarded-for", "forwarded",
                "x-real-ip", "x-client-junk", "te", "upgrade", "x-scrim-key"):
        check(bad not in h, "header %s was forwarded upstream: %r" % (bad, h.get(bad)))
    check(h.get("host", ["127.0.0.1:%d" % up.port])[0] == "127.0.0.1:%d" % up.port,
          "upstream Host %r is not the upstream's" % h.get("host"))
    return r


def send_with_client_headers(ctx, path, body, extra=None):
    h = {"Cookie": "sid=jane.doe@example.com", "X-Forwarded-For": "203.0.113.42",
         "X-Scrim-Request-Id": CLIENT_ID,
         "X-Real-IP": "203.0.113.42", "X-Client-Junk": "1", "Upgrade": "h2c",
         "Connection": "close, Upgrade"}
    h.update(extra or {})
    return ctx.post(path, body, headers=h)


def finish(ctx, s, up, want_records):
    """The store and audit half of an end-to-end case: the records, and an
    audit entry 'forwarded' under the id the upstream saw, so an auditor
    can tie the two."""
    recs, rc, err = ctx.decrypt()
    check(rc in (0, 1) and (rc == 0 or "unfinished segment" in err),
          "scrim decrypt while serving failed (%d): %s" % (rc, err[:200]))
    want_records(recs)
    s.metrics()
    code = s.stop()
    check(code == 0, "scrim serve exit %r on SIGTERM, expected 0: %s" % (code, s.tail(5)))
    recs2, rc, err = ctx.decrypt()
    check(rc == 0, "scrim decrypt after shutdown exit %d: %s" % (rc, err[:200]))
    check(len(recs2) == len(recs), "store had %d records while serving, %d after shutdown"
          % (len(recs), len(recs2)))
    why = ctx.audit_verify()
    check(not why, why)
    entries = ctx.audit_entries()
    ids = {r["hdr"].get("x-scrim-request-id", [""])[0] for r in up.records()}
    fwd = [e for e in entries if e["outcome"] == "forwarded"]
    check(fwd, "no audit entry with outcome forwarded: %r" % [e["outcome"] for e in entries])
    check({e["request"] for e in fwd} == ids, "audit entries name requests %r, the upstream "
          "saw X-Scrim-Request-Id %r" % (sorted(e["request"] for e in fwd), sorted(ids)))
    ctx.assert_no_canary([up])


def test_mask_json(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up)))
    doc = json_payload(7)
    r = send_with_client_headers(ctx, "/v1/json", doc)
    check(r.status == 200, "POST /v1/json: %r; %s" % (r, s.tail()))
    check(isinstance(r.json(), dict), "the 200 body is not a JSON object: %r" % r.body[:100])
    rec = one_forwarded(up, "/in/json")
    got = json.loads(rec["raw"])
    check(got == redact_offline(ctx, "json", doc),
          "upstream body differs from scrim redact's: %r" % rec["raw"][:300])
    check(got["seq"] == 7 and got["items"] == [1, 2, 3] and set(got["user"]) == set(doc["user"]),
          "structure not kept: %r" % got)
    for k, v in got["user"].items():
        check(v != doc["user"][k], "user.%s was forwarded unmasked" % k)
    check(rec["raw"] == json.dumps(got, separators=(",", ":"), ensure_ascii=False).encode(),
          "upstream body is not canonical JSON (no whitespace): %r" % rec["raw"][:120])
    finish(ctx, s, up, lambda recs: None)


def test_mask_json_gzip(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",))))
    doc = json_payload(8)
    body = gzip.compress(json.dumps(doc).encode())
    r = ctx.post("/v1/json", body, headers={"Content-Encoding": "gzip"})
    check(r.status == 200, "gzip POST: %r; %s" % (r, s.tail()))
    rec = one_forwarded(up, "/in/json")
    check("content-encoding" not in rec["hdr"], "upstream got Content-Encoding %r"
          % rec["hdr"].get("content-encoding"))
    got = json.loads(rec["raw"])
    check(got == redact_offline(ctx, "json", doc), "upstream body differs from scrim redact's")
    finish(ctx, s, up, lambda recs: None)


def test_mask_form(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up)))
    doc = form_payload("sess-integ-form-1")
    r = send_with_client_headers(ctx, "/v1/form", doc)
    check(r.status == 200, "POST /v1/form: %r; %s" % (r, s.tail()))
    rec = one_forwarded(up, "/in/form")
    got = json.loads(rec["raw"])
    check(got == redact_offline(ctx, "form", doc), "upstream body differs from scrim redact's: %r"
          % rec["raw"][:300])
    check(len(got["events"]) == len(doc["events"]) and
          [e["type"] for e in got["events"]] == [e["type"] for e in doc["events"]],
          "event structure not kept")
    for g, d in zip(got["events"], doc["events"]):
        if "value" in d and d["field"] != "loan_term":
            check(g["value"] != d["value"], "%s forwarded unmasked" % d["field"])
        if "message" in d:
            check(g["message"] != d["message"], "validation message forwarded")
    pseud = ctx.pseudonym("sess-integ-form-1")

    def want(recs):
        mine = [x for x in recs if x.get("session") == pseud]
        check(len(mine) == len(recs) and mine, "store records %r are not this session's (%s)"
              % ([x.get("session") for x in recs], pseud))
        types = {x["type"] for x in mine}
        for t in ("step_enter", "field_state", "submit"):
            check(t in types, "no %s context record in the store (got %s)" % (t, sorted(types)))
        fields = {x.get("field") for x in mine if x["type"] == "field_state"}
        check({"email", "iban"} <= fields, "field_state records for %s" % sorted(map(str, fields)))
    finish(ctx, s, up, want)


def test_mask_rrweb(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up)))
    with open(os.path.join(EXAMPLES, "rrweb-session.json")) as f:
        doc = json.load(f)
    doc["session_id"] = "sess-integ-rr-1"
    doc["events"].append({"type": 3, "timestamp": 1764400009000,
                          "data": {"source": 5, "id": 7, "text": "jane.doe@example.com",
                                   "isChecked": False}})
    r = send_with_client_headers(ctx, "/v1/rrweb", doc)
    check(r.status == 200, "POST /v1/rrweb: %r; %s" % (r, s.tail()))
    rec = one_forwarded(up, "/in/rrweb")
    got = json.loads(rec["raw"])
    check(got == redact_offline(ctx, "rrweb", doc), "upstream body differs from scrim redact's")
    check([e["type"] for e in got["events"]] == [e["type"] for e in doc["events"]],
          "event structure not kept")
    check(got["events"][-1]["data"]["text"] != "jane.doe@example.com", "input event not masked")
    pseud = ctx.pseudonym("sess-integ-rr-1")

    def want(recs):
        check(recs and all(x.get("session") == pseud for x in recs),
              "store records are not this session's: %r" % [x.get("session") for x in recs])
        check(any(x["type"] == "step_enter" and x.get("step") == "personal" for x in recs),
              "no step_enter personal record: %r" % [x["type"] for x in recs])
    finish(ctx, s, up, want)


def vendor_skip(ctx, fmt):
    cfg = ctx.config([], storage=None, audit=None, spool=None)  # the probe leaves no trace
    path = ctx.write_config(cfg, os.path.join(ctx.dir, "probe.yaml"))
    p = run_scrim(["redact", "-c", path, "--tenant", "acme", "--format", fmt], input=b"{}")
    if b"no engine" in p.stderr:
        raise Skip("format %s has no engine in this build (%s)"
                   % (fmt, p.stderr.decode().strip()[:120]))


def vendor_case(ctx, fmt, body, ctype):
    """A vendor format through an api_key route: the upstream must get
    exactly what the offline CLI makes of the body."""
    vendor_skip(ctx, fmt)
    up = Upstream(ctx).start()
    cfg = ctx.config(routes(up, (fmt,)))
    path = ctx.write_config(ctx.config([]), os.path.join(ctx.dir, "offline.yaml"))
    want = run_scrim(["redact", "-c", path, "--tenant", "acme", "--format", fmt], input=body)
    check(want.returncode == 0, "scrim redact --format %s refused the test payload: %s"
          % (fmt, want.stderr.decode()[:200]))
    s = ctx.scrim(cfg)
    r = ctx.post("/v1/" + fmt, body, headers={"Content-Type": ctype})
    check(r.status == 200, "POST /v1/%s: %r; %s" % (fmt, r, s.tail()))
    rec = one_forwarded(up, "/in/" + fmt, ctype if fmt == "sentry" else "application/json")
    check(rec["raw"] == want.stdout.rstrip(b"\n"), "upstream body differs from scrim redact's")
    finish(ctx, s, up, lambda recs: None)


def test_mask_posthog(ctx):
    doc = {"api_key": "phc_integ", "batch": [{
        "event": "$snapshot", "properties": {
            "$session_id": "sess-integ-ph-1",
            "$snapshot_data": [{"type": 4, "timestamp": 1764400000000,
                                "data": {"href": "https://x.example.com/?e=jane.doe@example.com",
                                         "width": 390, "height": 844}}]}}]}
    vendor_case(ctx, "posthog", json.dumps(doc).encode(), "application/json")


def test_mask_sentry(ctx):
    ev = {"type": "replay_event", "replay_id": "0" * 32,
          "user": {"email": "jane.doe@example.com"},
          "urls": ["https://x.example.com/?card=4111111111111111"]}
    item = json.dumps(ev).encode()
    env = (json.dumps({"event_id": "0" * 32}).encode() + b"\n" +
           json.dumps({"type": "replay_event", "length": len(item)}).encode() + b"\n" + item + b"\n")
    vendor_case(ctx, "sentry", env, "application/x-sentry-envelope")


def test_forward_client_ip(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",), forward_client_ip=True)))
    r = ctx.post("/v1/json", json_payload(1), headers={"X-Forwarded-For": "203.0.113.42"})
    check(r.status == 200, "POST: %r; %s" % (r, s.tail()))
    recs = wait_until(lambda: up.records(), 2)
    check(len(recs) == 1, "upstream got %d requests" % len(recs))
    xff = recs[0]["hdr"].get("x-forwarded-for")
    check(xff == ["127.0.0.0"], "X-Forwarded-For %r, expected the client address truncated "
          "to /24 ['127.0.0.0'] (and never the client's own header)" % xff)
    s.stop()
    ctx.assert_no_canary([up])


def test_vendor_key_tenant(ctx):
    """A posthog route with `tenant: vendor` finds the tenant by the
    project token in the payload; an unknown token is 401."""
    vendor_skip(ctx, "posthog")
    up = Upstream(ctx).start()
    cfg = ctx.config([{"match": {"method": "POST", "path": "/s/"}, "format": "posthog",
                       "tenant": "vendor", "upstream": up.url("/s/")}])
    cfg["tenants"] = [ctx.tenant("acme", vendor_keys=["phc_integacme"]),
                      ctx.tenant("globex", vendor_keys=["phc_integglobex"])]
    s = ctx.scrim(cfg)

    def doc(token):
        return {"api_key": token, "batch": [{"event": "$snapshot", "properties": {
            "$session_id": "sess-integ-ph-2", "$snapshot_data": [
                {"type": 4, "timestamp": 1764400000000,
                 "data": {"href": "https://x.example.com/?e=jane.doe@example.com",
                          "width": 390, "height": 844}}]}}]}
    r = ctx.post("/s/", doc("phc_integglobex"), tenant=None)
    check(r.status == 200, "posthog with a known token: %r; %s" % (r, s.tail()))
    r = ctx.post("/s/", doc("phc_unknown"), tenant=None)
    check(r.status == 401, "posthog with an unknown token: %r" % r)
    r = ctx.post("/s/?token=phc_integacme", doc("phc_integglobex"), tenant=None)
    check(r.status == 401, "posthog naming two tenants (query acme, body globex) got %r: a "
          "request must not pick its tenant by whichever key is read first" % r)
    time.sleep(0.3)
    check(len(up.records()) == 1, "upstream got %d requests, expected 1" % len(up.records()))
    check(ctx.audit_entries("globex") and not ctx.audit_entries("acme"),
          "the request was not accounted to the token's tenant (globex)")
    check(s.stop() == 0, "scrim serve did not exit 0")
    why = ctx.audit_verify("globex")
    check(not why, why)
    ctx.assert_no_canary([up])


SENTRY_KEY = "0123456789abcdef0123456789abcdef"


def test_vendor_key_sentry(ctx):
    """A sentry route with `tenant: vendor` finds the tenant by the DSN
    public key (envelope header, X-Sentry-Auth or ?sentry_key=)."""
    vendor_skip(ctx, "sentry")
    up = Upstream(ctx).start()
    cfg = ctx.config([{"match": {"method": "POST", "path": "/api/1/envelope/"},
                       "format": "sentry", "tenant": "vendor", "upstream": up.url("/e")}])
    cfg["tenants"] = [ctx.tenant("acme"), ctx.tenant("globex", vendor_keys=[SENTRY_KEY])]
    s = ctx.scrim(cfg)

    def envelope(key):
        ev = json.dumps({"type": "replay_event", "replay_id": "0" * 32,
                         "user": {"email": "jane.doe@example.com"}}).encode()
        hdr = {"event_id": "0" * 32, "dsn": "https://%s@o1.ingest.example.com/1" % key}
        return (json.dumps(hdr).encode() + b"\n" + json.dumps(
            {"type": "replay_event", "length": len(ev)}).encode() + b"\n" + ev + b"\n")
    ct = {"Content-Type": "application/x-sentry-envelope"}
    r = ctx.post("/api/1/envelope/", envelope(SENTRY_KEY), tenant=None, headers=ct)
    check(r.status == 200, "sentry with a known DSN key: %r; %s" % (r, s.tail()))
    r = ctx.post("/api/1/envelope/", envelope("f" * 32), tenant=None, headers=ct)
    check(r.status == 401, "sentry with an unknown DSN key: %r" % r)
    h = dict(ct, **{"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=%s" % ("e" * 32)})
    r = ctx.post("/api/1/envelope/", envelope(SENTRY_KEY), tenant=None, headers=h)
    check(r.status == 401, "sentry naming two keys (auth header and DSN) got %r" % r)
    time.sleep(0.3)
    check(len(up.records()) == 1, "upstream got %d requests, expected 1" % len(up.records()))
    check(ctx.audit_entries("globex") and not ctx.audit_entries("acme"),
          "the request was not accounted to the key's tenant (globex)")
    check(s.stop() == 0, "scrim serve did not exit 0")
    ctx.assert_no_canary([up])
