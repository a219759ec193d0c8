"""The in-flight byte budget (DESIGN.md invariant 7): requests that would
pass it are refused with 503 and Retry-After, and once the requests in
flight finish, every worker accepts again (a paused worker must not leave
the connections the kernel queued on its socket waiting)."""
import http.client
import threading

from cases_mask import routes
from harness import Upstream, check, json_payload


def test_inflight_budget_refuses_then_recovers(ctx):
    up = Upstream(ctx, delay=1.5).start()
    cfg = ctx.config(routes(up, ("json",)),
                     limits={"inflight_max": "1MiB", "body_max": "256KiB"})
    s = ctx.scrim(cfg)
    results, lock = [], threading.Lock()

    def one(i):
        try:
            r = ctx.post("/v1/json", json_payload(i, pad=200 * 1024), timeout=20)
            out = (r.status, r.headers.get("retry-after"))
        except (OSError, http.client.HTTPException) as e:
            out = (repr(e), None)
        with lock:
            results.append(out)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = [r[0] for r in results]
    check(200 in statuses, "no request of 10 x 200 KiB was served: %r" % statuses)
    refused = [r for r in results if r[0] == 503]
    check(refused, "10 concurrent 200 KiB bodies against inflight_max 1MiB: none refused: %r"
          % statuses)
    check(all(r[1] for r in refused), "a 503 without Retry-After: %r" % refused)
    check(all(st in (200, 503) for st in statuses), "unexpected answers: %r" % statuses)
    # Everything finished: new connections, whichever worker's socket the
    # kernel hands them to, are served.
    up.kill()
    up.start(delay=0)
    later = [ctx.try_post("/v1/json", json_payload(100 + i), timeout=5) for i in range(12)]
    check(all(st == 200 for st in later), "after the budget drained, answers %r" % later)
    check(s.stop() == 0, "scrim serve did not exit 0")
    return "%d of 10 served, %d refused with Retry-After, then 12/12 served" % (
        statuses.count(200), len(refused))
