"""Rejections: each case sends one bad request (carrying canaries, and a
form batch of its own session so a wrongful store is found by pseudonym),
checks the status, the {"error": word} body and, for framing errors, that
the connection was closed; then a good control request proves the upstream
and the store work, and the check is that only the control reached them."""
import gzip
import json
import threading
import time

from cases_mask import routes
from harness import (Upstream, check, find_canaries, form_payload, metric,
                     raw_body, raw_exchange, raw_status, wait_until)

REJECTED = "sess-integ-rejected"
CONTROL = "sess-integ-control"


def start(ctx, limits=None, tenant_extra=None):
    up = Upstream(ctx).start()
    cfg = ctx.config(routes(up, ("json", "form")), limits=limits or {})
    if tenant_extra:
        cfg["tenants"] = [ctx.tenant("acme", **tenant_extra)]
    return up, ctx.scrim(cfg)


def form_bytes(session=REJECTED):
    return json.dumps(form_payload(session)).encode()


def head(ctx, lines, path="/v1/form", auth=True):
    h = "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n" % (
        path, ctx.port)
    if auth:
        h += "Authorization: Bearer %s\r\n" % ctx.keys.api["acme"]
    return (h + "".join(l + "\r\n" for l in lines) + "\r\n").encode()


def chunked(body, size_fmt="%x"):
    return (size_fmt % len(body)).encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"


def check_error_body(status, body, want):
    check(status == want, "status %r, expected %d (body %r)" % (status, want, body[:120]))
    try:
        word = json.loads(body).get("error")
    except (ValueError, AttributeError):
        word = None
    check(isinstance(word, str) and word, 'body %r is not {"error":"<reason>"}' % body[:120])
    hits = find_canaries(body.decode("latin-1"))
    check(not hits, "the error body quotes the payload: %s" % hits)


def control_and_verify(ctx, up, s, want_status, rejected=(REJECTED,), count_metric=True,
                       earlier=()):
    """A good request gets 200; the upstream and the store hold it (and the
    earlier good ones) and nothing of the rejected sessions; no canary
    anywhere."""
    time.sleep(0.3)  # anything wrongly forwarded would have arrived by now
    r = ctx.post("/v1/form", form_bytes(CONTROL))
    check(r.status == 200, "control request after the rejection: %r; %s" % (r, s.tail()))
    want = list(earlier) + [CONTROL]
    recs = wait_until(lambda: len(up.records()) >= len(want) and up.records(), 2)
    sessions = [json.loads(x["raw"]).get("session") for x in recs or up.records()]
    check(sessions == want, "upstream received sessions %r, expected only the controls %r"
          % (sessions, want))
    stored, _, _ = ctx.decrypt()
    got = {x.get("session") for x in stored}
    check(ctx.pseudonym(CONTROL) in got, "the control's context records are not in the store")
    for sess in rejected:
        check(ctx.pseudonym(sess) not in got, "the rejected request's records are in the store")
    if count_metric:
        text = s.metrics()
        n = metric(text, "scrim_requests_total", status=want_status)
        check(n is not None and n >= 1, "scrim_requests_total{status=\"%d\"} is %r after a %d"
              % (want_status, n, want_status))
    code = s.stop()
    check(code == 0, "scrim serve exit %r on SIGTERM" % code)
    why = ctx.audit_verify()
    check(not why, why)
    ctx.assert_no_canary([up])


# ---------------------------------------------------------------- payloads

def test_reject_malformed_json(ctx):
    up, s = start(ctx)
    bad = [b'{"session":"%s","email":"jane.doe@example.com",}' % REJECTED.encode(),
           b'{"session":"x","events":[],"session":"4111 1111 1111 1111"}',
           b'{"session":"078-05-1120","events":[]} trailing',
           b'{"session":"x","events":[{"type":"input","t":1,"field":"f","value":"\\ud800"}]}']
    for body in bad:
        r = ctx.post("/v1/form", body)
        check_error_body(r.status, r.body, 400)
    r = ctx.post("/v1/json", b'{"card":"4111 1111 1111 1111"')
    check_error_body(r.status, r.body, 400)
    control_and_verify(ctx, up, s, 400)


def test_reject_no_key(ctx):
    up, s = start(ctx)
    r = ctx.post("/v1/form", form_bytes(), tenant=None)
    check_error_body(r.status, r.body, 401)
    control_and_verify(ctx, up, s, 401)


def test_reject_wrong_key(ctx):
    up, s = start(ctx)
    r = ctx.post("/v1/form", form_bytes(), tenant=None,
                 headers={"Authorization": "Bearer " + ctx.keys.api["acme"] + "x"})
    check_error_body(r.status, r.body, 401)
    r = ctx.post("/v1/form", form_bytes(), tenant=None,
                 headers={"Authorization": "Bearer " + ctx.keys.api["globex"]})
    check_error_body(r.status, r.body, 401)
    control_and_verify(ctx, up, s, 401)


def test_reject_no_route(ctx):
    up, s = start(ctx)
    for path in ("/v1/nope", "/v1/form/extra", "/"):
        r = ctx.post(path, form_bytes())
        check_error_body(r.status, r.body, 404)
    control_and_verify(ctx, up, s, 404)


def test_reject_body_too_big(ctx):
    up, s = start(ctx, limits={"body_max": "16KiB"})
    doc = form_payload(REJECTED)
    doc["events"][1]["value"] = "jane.doe@example.com " * 1600  # ~32 KiB
    body = json.dumps(doc).encode()
    data, _ = raw_exchange(ctx.port, head(ctx, ["Content-Length: %d" % len(body)]) + body)
    check_error_body(raw_status(data), raw_body(data), 413)
    data, _ = raw_exchange(ctx.port, head(ctx, ["Transfer-Encoding: chunked"]) + chunked(body))
    check_error_body(raw_status(data), raw_body(data), 413)
    control_and_verify(ctx, up, s, 413)


def bomb(size):
    """A valid JSON document of size bytes that gzips to almost nothing."""
    return gzip.compress(b'{"session":"%s","events":[],"x":"' % REJECTED.encode()
                         + b"A" * size + b'"}', 9)


def test_reject_gzip_bomb(ctx):
    up, s = start(ctx, limits={"decompressed_max": "1MiB", "ratio_max": 100000})
    body = bomb(20 * 1024 * 1024)
    r = ctx.post("/v1/form", body, headers={"Content-Encoding": "gzip"})
    check_error_body(r.status, r.body, 413)
    control_and_verify(ctx, up, s, 413)


def test_reject_gzip_ratio(ctx):
    up, s = start(ctx, limits={"decompressed_max": "1MiB", "ratio_max": 10})
    body = bomb(512 * 1024)
    check(len(body) * 10 < 512 * 1024, "test bug: the bomb is not past the ratio")
    r = ctx.post("/v1/form", body, headers={"Content-Encoding": "gzip"})
    check_error_body(r.status, r.body, 413)
    control_and_verify(ctx, up, s, 413)


def test_reject_json_too_deep(ctx):
    up, s = start(ctx, limits={"json_depth": 16})
    doc = form_payload(REJECTED)
    deep = "jane.doe@example.com"
    for _ in range(40):
        deep = [deep]
    doc["events"][1]["value"] = deep
    r = ctx.post("/v1/form", doc)
    check(r.status in (400, 413), "JSON 40 deep with json_depth 16: %r" % r)
    check_error_body(r.status, r.body, r.status)
    control_and_verify(ctx, up, s, r.status)


def test_reject_unknown_encoding(ctx):
    up, s = start(ctx)
    r = ctx.post("/v1/form", form_bytes(), headers={"Content-Encoding": "br"})
    check_error_body(r.status, r.body, 415)
    control_and_verify(ctx, up, s, 415)


def test_reject_headers_too_big(ctx):
    up, s = start(ctx, limits={"header_max": "4KiB"})
    body = form_bytes()
    req = head(ctx, ["Content-Length: %d" % len(body), "X-Pad: " + "a" * 8000]) + body
    data, closed = raw_exchange(ctx.port, req)
    check_error_body(raw_status(data), raw_body(data), 431)
    many = ["X-Field-%d: 1" % i for i in range(150)]  # header_fields defaults to 100
    data, closed = raw_exchange(ctx.port, head(ctx, ["Content-Length: %d" % len(body)] + many) + body)
    check_error_body(raw_status(data), raw_body(data), 431)
    control_and_verify(ctx, up, s, 431, count_metric=False)


def test_reject_rate_limited(ctx):
    up, s = start(ctx, tenant_extra={"rate": {"per_second": 1, "burst": 2}})
    got = [None] * 5

    def send(i):
        got[i] = ctx.post("/v1/form", form_bytes("sess-integ-rate-%d" % i))
    threads = [threading.Thread(target=send, args=(i,)) for i in range(5)]
    for t in threads:  # all at once, so a slow machine cannot refill the bucket
        t.start()
    for t in threads:
        t.join(20)
    check(all(got), "a rate-limited request got no answer")
    codes = [r.status for r in got]
    ok = [i for i, r in enumerate(got) if r.status == 200]
    limited = [r for r in got if r.status == 429]
    check(limited, "5 fast requests with rate 1/s burst 2 got %r, no 429" % codes)
    check(2 <= len(ok) <= 3 and len(ok) + len(limited) == 5,
          "statuses %r: expected 2 (burst) or 3 (one refill) 200s, the rest 429" % codes)
    for r in limited:
        check_error_body(r.status, r.body, 429)
        ra = r.headers.get("retry-after", "")
        check(ra.isdigit() and int(ra) >= 1, "429 without a Retry-After in seconds: %r" % ra)
    time.sleep(0.3)
    sessions = sorted(json.loads(x["raw"])["session"] for x in up.records())
    check(sessions == sorted("sess-integ-rate-%d" % i for i in ok),
          "upstream got %r, expected only the 200s" % sessions)
    stored = {x.get("session") for x in ctx.decrypt()[0]}
    for i in range(5):
        there = ctx.pseudonym("sess-integ-rate-%d" % i) in stored
        check(there == (i in ok), "request %d (status %d): records in store: %s"
              % (i, codes[i], there))
    n = metric(s.metrics(), "scrim_requests_total", status=429)
    check(n == len(limited), "scrim_requests_total{status=\"429\"} = %r, expected %d"
          % (n, len(limited)))
    check(s.stop() == 0, "scrim serve did not exit 0")
    ctx.assert_no_canary([up])


# ---------------------------------------------------------------- framing

GOOD_CHUNKED = "sess-integ-control-chunked"


def framing_case(ctx, requests):
    """Each raw request must get 400 and the connection closed. The same
    body with plain chunked framing is accepted first, so the 400s are
    about the framing, not the body or chunked encoding as such."""
    up, s = start(ctx)
    good = head(ctx, ["Transfer-Encoding: chunked", "Connection: close"]) + chunked(
        form_bytes(GOOD_CHUNKED))
    data, _ = raw_exchange(ctx.port, good, timeout=3)
    check(raw_status(data) == 200, "a well-framed chunked request got %r" % data[:120])
    for req in requests:
        data, closed = raw_exchange(ctx.port, req, timeout=3)
        check_error_body(raw_status(data), raw_body(data), 400)
        check(data.count(b"HTTP/1.") == 1, "more than one response: %r" % data[:300])
        check(closed, "the connection stayed open after the 400")
    control_and_verify(ctx, up, s, 400, count_metric=False, earlier=[GOOD_CHUNKED])


def test_framing_cl_and_te(ctx):
    b = form_bytes()
    framing_case(ctx, [head(ctx, ["Content-Length: %d" % len(b), "Transfer-Encoding: chunked"])
                       + chunked(b),
                       head(ctx, ["Transfer-Encoding: chunked", "Content-Length: %d" % len(b)])
                       + chunked(b)])


def test_framing_cl_twice(ctx):
    b = form_bytes()
    framing_case(ctx, [head(ctx, ["Content-Length: %d" % len(b), "Content-Length: %d" % (len(b) + 4)])
                       + b + b"    ",
                       head(ctx, ["Content-Length: %d" % len(b), "Content-Length: %d" % len(b)]) + b,
                       head(ctx, ["Content-Length: %d, %d" % (len(b), len(b))]) + b])


def test_framing_te_gzip_chunked(ctx):
    b = form_bytes()
    framing_case(ctx, [head(ctx, ["Transfer-Encoding: gzip, chunked"]) + chunked(gzip.compress(b)),
                       head(ctx, ["Transfer-Encoding: gzip, chunked"]) + chunked(b)])


def test_framing_obs_fold(ctx):
    b = form_bytes()
    framing_case(ctx, [head(ctx, ["Content-Length: %d" % len(b), "X-Folded: a", " b"]) + b])


def test_framing_space_before_colon(ctx):
    b = form_bytes()
    framing_case(ctx, [head(ctx, ["X-Spaced : 1", "Content-Length: %d" % len(b)]) + b])


def test_framing_bad_chunk_size(ctx):
    b = form_bytes()
    framing_case(ctx, [head(ctx, ["Transfer-Encoding: chunked"]) + chunked(b, "0x%x"),
                       head(ctx, ["Transfer-Encoding: chunked"]) + chunked(b, "+%x")])
