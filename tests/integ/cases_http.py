"""HTTP and routing details a real client relies on: tenants by header or
fixed, context-only routes, pipelined keep-alive requests, Expect:
100-continue, and the rrweb node map carried from one payload of a session
to the next."""
import json
import socket
import time

from cases_mask import routes
from harness import Skip, Upstream, check, form_payload, json_payload, raw_status, wait_until


def test_api_key_header_and_fixed_tenant(ctx):
    up = Upstream(ctx).start()
    cfg = ctx.config([
        {"match": {"method": "POST", "path": "/h/json"}, "format": "json",
         "tenant": {"api_key_header": "X-Scrim-Key"}, "upstream": up.url("/h")},
        {"match": {"method": "POST", "path": "/f/json"}, "format": "json",
         "tenant": {"fixed": "globex"}, "upstream": up.url("/f")},
    ])
    cfg["tenants"].append(ctx.tenant("globex"))
    s = ctx.scrim(cfg)
    r = ctx.post("/h/json", json_payload(1), tenant=None,
                 headers={"X-Scrim-Key": ctx.keys.api["acme"]})
    check(r.status == 200, "key in X-Scrim-Key: %r" % r)
    r = ctx.post("/h/json", json_payload(2))  # Authorization is not that route's header
    check(r.status == 401, "key in Authorization on an X-Scrim-Key route: %r" % r)
    r = ctx.post("/f/json", json_payload(3), tenant=None)
    check(r.status == 200, "fixed-tenant route without a key: %r" % r)
    time.sleep(0.3)
    recs = up.records()
    check([x["path"] for x in recs] == ["/h", "/f"], "upstream paths %r" % [x["path"] for x in recs])
    for x in recs:
        check("x-scrim-key" not in x["hdr"], "the tenant key header was forwarded")
    check(len(ctx.audit_entries("acme")) == 1 and len(ctx.audit_entries("globex")) == 1,
          "audit entries not one per tenant (acme %d, globex %d)"
          % (len(ctx.audit_entries("acme")), len(ctx.audit_entries("globex"))))
    check(s.stop() == 0, "scrim serve did not exit 0")
    ctx.assert_no_canary([up])


def test_context_only_route(ctx):
    up = Upstream(ctx).start()
    cfg = ctx.config([{"match": {"method": "POST", "path": "/v1/form"}, "format": "form",
                       "tenant": "api_key"}])
    s = ctx.scrim(cfg)
    r = ctx.post("/v1/form", form_payload("sess-integ-ctxonly"))
    check(r.status == 200, "context-only form route: %r" % r)
    recs, _, _ = ctx.decrypt()
    check(any(x.get("session") == ctx.pseudonym("sess-integ-ctxonly") for x in recs),
          "context records not stored for a route without upstream")
    check(s.stop() == 0, "scrim serve did not exit 0")
    check(not up.records(), "a route without upstream forwarded something")
    ctx.assert_no_canary([up])


def request_bytes(ctx, seq, extra=""):
    body = json.dumps(json_payload(seq)).encode()
    return ("POST /v1/json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (ctx.keys.api["acme"], len(body), extra)).encode(), body


def read_responses(sock, n, timeout=10):
    """n complete responses (status, body) from sock, in order."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            c = sock.recv(65536)
            if not c:
                return out
            buf += c
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(rest) < length:
            c = sock.recv(65536)
            if not c:
                return out
            rest += c
        out.append((raw_status(head), rest[:length]))
        buf = rest[length:]
    return out


def test_pipelined_requests(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",))))
    data = b"".join(h + b for h, b in (request_bytes(ctx, i) for i in range(3)))
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as c:
        c.sendall(data)
        got = read_responses(c, 3)
    check([st for st, _ in got] == [200, 200, 200],
          "3 pipelined requests got %r" % [st for st, _ in got])
    seqs = wait_until(lambda: len(up.records()) == 3 and
                      sorted(json.loads(r["raw"])["seq"] for r in up.records()), 3)
    check(seqs == [0, 1, 2], "upstream got seqs %r" % seqs)
    check(s.stop() == 0, "scrim serve did not exit 0")


def test_expect_continue(ctx):
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("json",))))
    head, body = request_bytes(ctx, 1, "Expect: 100-continue\r\n")
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=5) as c:
        c.sendall(head)
        c.settimeout(3)
        first = c.recv(65536)
        check(raw_status(first) == 100, "Expect: 100-continue answered %r before the body"
              % first[:60])
        c.sendall(body)
        got = read_responses(c, 1)
    check(got and got[0][0] == 200, "after 100 Continue the request got %r" % got)
    check(s.stop() == 0, "scrim serve did not exit 0")


def rr_snapshot(session):
    def el(i, tag, attrs, kids=()):
        return {"type": 2, "id": i, "tagName": tag, "attributes": attrs, "childNodes": list(kids)}
    body = el(3, "body", {}, [el(4, "form", {"id": "apply"}, [
        el(5, "input", {"type": "email", "name": "email"}),
        el(6, "input", {"type": "text", "name": "loan_term"})])])
    return {"session_id": session, "events": [
        {"type": 4, "timestamp": 1764400000000,
         "data": {"href": "https://bank.example.com/apply/personal", "width": 1280, "height": 800}},
        {"type": 2, "timestamp": 1764400000010, "data": {"node": {
            "type": 0, "id": 1, "childNodes": [el(2, "html", {}, [body])]},
            "initialOffset": {"left": 0, "top": 0}}}]}


def rr_inputs(session):
    return {"session_id": session, "events": [
        {"type": 3, "timestamp": 1764400001000,
         "data": {"source": 5, "id": 5, "text": "jane.doe@example.com", "isChecked": False}},
        {"type": 3, "timestamp": 1764400002000,
         "data": {"source": 5, "id": 6, "text": "36", "isChecked": False}}]}


def test_rrweb_node_map_across_payloads(ctx):
    """The snapshot comes in one request and the input events in the next
    (as rrweb batches them): the email input stays masked, and the input
    the policy allows (name=loan_term) keeps its value because the session
    remembers node 6 from the snapshot (DESIGN.md: per-session node map)."""
    up = Upstream(ctx).start()
    s = ctx.scrim(ctx.config(routes(up, ("rrweb",))))
    both = rr_snapshot("sess-integ-one")
    both["events"] += rr_inputs("sess-integ-one")["events"]
    check(ctx.post("/v1/rrweb", both).status == 200, "snapshot+inputs refused")
    recs = wait_until(lambda: up.records(), 3)
    ev = {e["data"]["id"]: e["data"] for e in json.loads(recs[0]["raw"])["events"][2:]}
    check(ev[6]["text"] == "36" and ev[5]["text"] != "jane.doe@example.com",
          "precondition: in one payload the policy keeps loan_term and masks email: %r" % ev)
    check(ctx.post("/v1/rrweb", rr_snapshot("sess-integ-map")).status == 200, "snapshot refused")
    check(ctx.post("/v1/rrweb", rr_inputs("sess-integ-map")).status == 200, "inputs refused")
    recs = wait_until(lambda: len(up.records()) == 3 and up.records(), 3)
    check(recs, "upstream got %d requests, expected 3" % len(up.records()))
    ev = {e["data"]["id"]: e["data"] for e in json.loads(recs[2]["raw"])["events"]}
    check(ev[5]["text"] != "jane.doe@example.com", "the email input was forwarded unmasked")
    check(s.stop() == 0, "scrim serve did not exit 0")
    ctx.assert_no_canary([up])
    if ev[6]["text"] != "36":
        # README: "the cross-payload session node map is next"; masking is
        # the safe side, so this is reported, not failed, until it lands
        raise Skip("the allowed loan_term input was masked (%r) when its snapshot came in an "
                   "earlier payload: the session node map does not carry across payloads yet"
                   % ev[6]["text"])
