#!/usr/bin/env python3
"""The proxy benchmark: scrim against nginx as a pass-through, with wrk.

    run.py SCRIM OUT.md       (bench/proxy.sh runs it; see there)

What it does, all on loopback in one run:
  1. generates realistic gzip'd rrweb batches (gen_rrweb.py) and keys;
  2. starts a stand-in vendor (nginx answering 200), nginx as a plain
     pass-through proxy to it, and two scrims in front of it: the product
     (storage, audit log, spool) and one without storage and audit (the
     durability cost);
  3. checks the real path: a batch through scrim reaches the upstream
     masked (no canary in what arrived) and every server answers 200;
  4. measures peak throughput with wrk, RUNS rounds, the three proxies
     interleaved in each round so they share the machine's mood, and takes
     the median; fails if any request got a non-2xx or a socket error, or
     if the upstream saw fewer requests than scrim acknowledged;
  5. measures latency at half of scrim's peak with pace.c, an open-loop
     client timing each request from its scheduled send time;
  6. measures scrim's resident memory with IDLE idle keep-alive connections
     (RSS of a fresh, warmed-up process before and after; once with
     connections that each served a batch, once with silent ones), checked
     against scrim's own connection gauge;
  7. prints a markdown table and writes it to OUT.md.

Environment: BENCH_SECONDS (10), BENCH_RUNS (3), BENCH_THREADS (2),
BENCH_CONNS (64), BENCH_IDLE (10000), BENCH_KEEP=1 keeps the work directory.
"""
import grp
import hashlib
import json
import os
import platform
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CANARIES = [b"4111 1111 1111 1111", b"jane.doe@example.com", b"078-05-1120"]
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
CONNS = int(os.environ.get("BENCH_CONNS", "64"))
IDLE = int(os.environ.get("BENCH_IDLE", "10000"))
VARIANTS = 8


class BenchError(Exception):
    pass


def log(msg):
    print("proxy-bench: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise BenchError("%s exited with %d at start (see its log)" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise BenchError("%s did not listen on %d" % (what, port))


def fill(template, out, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.search(r"@[A-Z_]+@", text)
    if left:
        raise BenchError("%s: %s not filled in" % (template, left.group(0)))
    with open(out, "w") as f:
        f.write(text)
    return out


class Procs:
    """Every process this benchmark starts, stopped by pid at the end."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, logpath, **kw):
        logf = open(logpath, "wb")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, **kw)
        logf.close()
        self.procs.append((name, p))
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for _name, p in reversed(self.procs):
            # nginx stops gracefully on SIGQUIT; scrim drains on SIGTERM.
            self.stop(p)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError("no VmRSS for pid %d" % pid)


def family(pid):
    """pid and its children (nginx's workers)."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return [pid] + kids


def cpu_seconds(pids):
    """User + system CPU time of these processes, all their threads."""
    ticks = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def scrim_connections(admin_port):
    """scrim's own count of open client connections (its /metrics gauge)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port, timeout=5) as r:
        m = re.search(r"^scrim_connections (\d+)$", r.read().decode(), re.M)
    if m is None:
        raise BenchError("no scrim_connections gauge in /metrics")
    return int(m.group(1))


def upstream_requests(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=5) as r:
        text = r.read().decode()
    # "server accepts handled requests\n A B C"
    return int(text.split("\n")[2].split()[2])


def raw_request(port, path, key, body):
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            "Content-Encoding: gzip\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
            % (path, port, key, len(body)))
    return head.encode() + body


def post(port, path, key, body):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Content-Encoding": "gzip",
                                          "Authorization": "Bearer " + key})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Bench:
    def __init__(self, scrim, out_md, work):
        self.scrim, self.out_md, self.work = scrim, out_md, work
        self.procs = Procs()
        self.cores = os.cpu_count() or 1
        self.key = "scrim_bench_" + secrets.token_urlsafe(24)
        self.ports = {}
        self.batches = []

    # -- setup -----------------------------------------------------------

    def prepare(self):
        w = self.work
        subprocess.run([sys.executable, os.path.join(HERE, "gen_rrweb.py"),
                        os.path.join(w, "batches"), "--variants", str(VARIANTS)],
                       check=True, stdout=subprocess.DEVNULL)
        self.batches = [os.path.join(w, "batches", "batch-%d.json.gz" % k) for k in range(VARIANTS)]
        self.json_sizes = [os.path.getsize(b[:-3]) for b in self.batches]
        self.gz_sizes = [os.path.getsize(b) for b in self.batches]
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                        os.path.join(w, "pace"), os.path.join(HERE, "pace.c")], check=True)
        # One directory per scrim instance, each with its own store, audit
        # log and spool; the tenant keys are shared (config paths are
        # relative to the config file, so each gets a keys/ link).
        keys = os.path.join(w, "keys")
        os.makedirs(keys)
        quiet = dict(check=True, stdout=subprocess.DEVNULL)
        subprocess.run([self.scrim, "keys", "new", "--tenant", "bench", "--dir", keys], **quiet)
        subprocess.run([self.scrim, "keys", "pseudonym", "--tenant", "bench", "--dir", keys], **quiet)
        for sub, durable in (("scrim", True), ("fast", False), ("mem", True)):
            os.makedirs(os.path.join(w, sub, "spool"))
            os.symlink(keys, os.path.join(w, sub, "keys"))
            if durable:
                os.makedirs(os.path.join(w, sub, "store"))
                os.makedirs(os.path.join(w, sub, "audit"))
                subprocess.run([self.scrim, "keys", "audit", "--dir",
                                os.path.join(w, sub, "audit")], **quiet)
        for name in ("upstream", "nginx", "scrim", "scrim_admin", "fast", "fast_admin", "mem",
                     "mem_admin"):
            self.ports[name] = free_port()

    def scrim_config(self, sub, port, admin, durable):
        path = os.path.join(self.work, sub, "scrim.yaml")
        fill("scrim.yaml.in", path, {
            "PORT": port, "ADMIN_PORT": admin, "WORKERS": self.cores,
            "KEY_SHA256": hashlib.sha256(self.key.encode()).hexdigest(),
            "UPSTREAM_PORT": self.ports["upstream"]})
        if not durable:
            with open(path) as f:
                text = f.read().split("\n# durable\n")[0] + "\n"
            with open(path, "w") as f:
                f.write(text)
        subprocess.run([self.scrim, "check", "-c", path], check=True, stdout=subprocess.DEVNULL)
        return path

    def start_nginx(self, name, template, port):
        # As root, nginx would hand its workers to "nobody"; keep this user.
        user = ""
        if os.geteuid() == 0:
            user = "user %s %s;" % (pwd.getpwuid(os.getuid()).pw_name,
                                    grp.getgrgid(os.getgid()).gr_name)
        conf = fill(template, os.path.join(self.work, name + ".conf"), {
            "WORKERS": self.cores, "DIR": self.work, "USER": user,
            "UPSTREAM_PORT": self.ports["upstream"], "PROXY_PORT": self.ports["nginx"]})
        p = self.procs.start(name, ["nginx", "-p", self.work, "-c", conf, "-e",
                                    os.path.join(self.work, name + "-error.log")],
                             os.path.join(self.work, name + ".log"))
        wait_port(port, p, name)
        return p

    def start_scrim(self, sub, durable):
        port, admin = self.ports[sub], self.ports[sub + "_admin"]
        conf = self.scrim_config(sub, port, admin, durable)
        p = self.procs.start(sub, [self.scrim, "serve", "-c", conf],
                             os.path.join(self.work, sub + ".log"))
        wait_port(port, p, "scrim (%s)" % sub)
        return p

    def start(self):
        self.start_nginx("upstream", "nginx-upstream.conf.in", self.ports["upstream"])
        ng = self.start_nginx("proxy", "nginx-proxy.conf.in", self.ports["nginx"])
        self.scrim_proc = self.start_scrim("scrim", durable=True)
        self.fast_proc = self.start_scrim("fast", durable=False)
        self.pids = {"nginx": ng.pid, "scrim": self.scrim_proc.pid, "fast": self.fast_proc.pid}

    # -- checks ----------------------------------------------------------

    def check_path(self):
        """The benchmark must measure the real path: masked bytes upstream."""
        with open(self.batches[0], "rb") as f:
            body = f.read()
        with open(self.batches[0][:-3], "rb") as f:
            raw = f.read()
        missing = [c for c in CANARIES if c not in raw]
        if missing:
            raise BenchError("the batch lacks its canaries %r: the check could not fail" % missing)
        for name in ("scrim", "fast"):
            st = post(self.ports[name], "/v1/rrweb-sample", self.key, body)
            if st != 200:
                raise BenchError("scrim (%s) answered %d to a sample batch" % (name, st))
        bodies = []
        bdir = os.path.join(self.work, "upstream-body")
        for root, _dirs, files in os.walk(bdir):
            for fn in files:
                with open(os.path.join(root, fn), "rb") as f:
                    bodies.append(f.read())
        if len(bodies) < 2:
            raise BenchError("the upstream kept %d sample bodies, expected 2" % len(bodies))
        for b in bodies:
            leaked = [c.decode() for c in CANARIES if c in b]
            if leaked:
                raise BenchError("a canary reached the upstream unmasked: %s" % leaked)
            doc = json.loads(b)
            if len(doc["events"]) < 100:
                raise BenchError("the upstream got a batch of %d events" % len(doc["events"]))
        self.sample_bytes = len(bodies[0])
        st = post(self.ports["nginx"], "/v1/rrweb", self.key, body)
        if st != 200:
            raise BenchError("nginx answered %d" % st)
        log("path check: %d sample batches reached the upstream masked (%d bytes, no canary)"
            % (len(bodies), self.sample_bytes))

    # -- measurements ----------------------------------------------------

    def wrk(self, name, seconds):
        url = "http://127.0.0.1:%d/v1/rrweb" % self.ports[name]
        before = upstream_requests(self.ports["upstream"])
        pids = family(self.pids[name])
        cpu0 = cpu_seconds(pids)
        argv = ["wrk", "-t%d" % THREADS, "-c%d" % CONNS, "-d%ds" % seconds, "--latency",
                "-s", os.path.join(HERE, "post.lua"), url, "--", self.key] + self.batches
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        after = upstream_requests(self.ports["upstream"])
        cpu = cpu_seconds(pids) - cpu0
        m = re.search(r"^RESULT (.*)$", out.stdout, re.M)
        if out.returncode != 0 or m is None:
            raise BenchError("wrk on %s failed: %s %s" % (name, out.stdout, out.stderr))
        r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
        r["cpu_ms"] = cpu * 1e3 / max(1, r["requests"])
        r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
        r["upstream"] = after - before
        errs = r["connect"] + r["read"] + r["write"] + r["timeout"]
        if r["status"] or errs:
            raise BenchError("%s: %d non-2xx answers, %d socket errors in %d requests\n%s"
                             % (name, r["status"], errs, r["requests"], out.stdout))
        if r["upstream"] < r["requests"]:
            raise BenchError("%s acknowledged %d requests but the upstream saw %d"
                             % (name, r["requests"], r["upstream"]))
        return r

    def peak(self):
        names = ("nginx", "scrim", "fast")
        log("warm-up: 3 s each")
        for n in names:
            self.wrk(n, 3)
        self.runs = {n: [] for n in names}
        self.load = []
        for k in range(RUNS):
            for n in names:
                r = self.wrk(n, SECONDS)
                self.runs[n].append(r)
                log("round %d %-5s %7.0f req/s  p50 %.2f  p99 %.2f ms" % (
                    k + 1, n, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3))
            self.load.append(os.getloadavg()[0])

    def median_run(self, name):
        runs = sorted(self.runs[name], key=lambda r: r["rps"])
        return runs[len(runs) // 2]

    def paced(self):
        """Latency at half of scrim's peak rate, open loop, for each proxy."""
        self.rate = max(1, int(self.median_run("scrim")["rps"] / 2))
        reqs = []
        for name in ("nginx", "scrim", "fast"):
            files = []
            for k, b in enumerate(self.batches):
                with open(b, "rb") as f:
                    data = raw_request(self.ports[name], "/v1/rrweb", self.key, f.read())
                path = os.path.join(self.work, "req-%s-%d.http" % (name, k))
                with open(path, "wb") as f:
                    f.write(data)
                files.append(path)
            reqs.append((name, files))
        self.pace_runs = {n: [] for n, _ in reqs}
        self.pace_load = []
        for k in range(RUNS):
            for name, files in reqs:
                argv = [os.path.join(self.work, "pace"), "127.0.0.1", str(self.ports[name]),
                        str(self.rate), str(SECONDS), "2", str(CONNS)] + files
                out = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS + 60)
                m = re.search(r"^RESULT (.*)$", out.stdout, re.M)
                if m is None:
                    raise BenchError("pace on %s failed: %s" % (name, out.stderr))
                r = {kk: float(v) for kk, v in (kv.split("=") for kv in m.group(1).split())}
                if out.returncode != 0:
                    raise BenchError("pace on %s: %d non-2xx, %d errors"
                                     % (name, r["non2xx"], r["errors"]))
                self.pace_runs[name].append(r)
                log("paced %d %-5s at %d req/s: achieved %.0f, p50 %.2f p99 %.2f ms" % (
                    k + 1, name, self.rate, r["achieved_rps"], r["p50_us"] / 1e3,
                    r["p99_us"] / 1e3))
            self.pace_load.append(os.getloadavg()[0])

    def idle_phase(self, p, req, send):
        """RSS of p before and while IDLE connections sit idle on it."""
        time.sleep(2)
        before = rss_kb(p.pid)
        argv = [sys.executable, os.path.join(HERE, "idle.py"), "127.0.0.1",
                str(self.ports["mem"]), str(IDLE), req, "--concurrency", str(CONNS)]
        argv += [] if send else ["--no-request"]
        idle = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = idle.stdout.readline().strip()
            if not line.startswith("READY"):
                raise BenchError("idle.py: %r" % line)
            st = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
            want_ok = IDLE if send else 0
            if st["opened"] != IDLE or st["ok"] != want_ok or st["errors"] or st["non2xx"] \
                    or st["closed_by_server"]:
                raise BenchError("idle connections: %s" % line)
            time.sleep(2)
            after, held = rss_kb(p.pid), scrim_connections(self.ports["mem_admin"])
            if held < IDLE:
                raise BenchError("scrim holds %d connections, expected %d idle ones" % (held, IDLE))
        finally:
            idle.stdin.close()
            idle.wait(timeout=60)
        log("memory: %d idle connections (%s; scrim counts %d), RSS %.1f -> %.1f MB" % (
            IDLE, "one batch each" if send else "no request", held, before / 1024, after / 1024))
        return before, after

    def memory(self):
        """RSS of a fresh scrim (the product's config) with IDLE idle conns:
        connections that each sent one batch (an SDK's kept-alive connection
        between two batches), then, in another fresh process, connections
        that never sent anything. Fresh each time, so one phase's freed
        memory does not hide the other's cost."""
        req = os.path.join(self.work, "req-mem.http")
        with open(self.batches[0], "rb") as f:
            data = raw_request(self.ports["mem"], "/v1/rrweb", self.key, f.read())
        with open(req, "wb") as f:
            f.write(data)
        for send in (True, False):
            p = self.start_scrim("mem", durable=True)
            try:
                # Warm up at the peak, CONNS requests in flight as idle.py
                # will have: the baseline then holds the workers' arenas,
                # curl pool, store segments and the in-flight high-water
                # mark, and the difference is what the connections cost.
                self.pids["mem"] = p.pid
                self.wrk("mem", 3)
                if send:
                    self.mem_served = self.idle_phase(p, req, send=True)
                else:
                    self.mem_silent = self.idle_phase(p, req, send=False)
            finally:
                self.procs.stop(p)

    def fsync_probe(self):
        """What one fsync costs on the disk the store is on (context for the
        durability cost): 200 appends of 4 KiB, each followed by fsync."""
        path = os.path.join(self.work, "fsync-probe")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        ts = []
        try:
            for _ in range(200):
                os.write(fd, b"\0" * 4096)
                t = time.perf_counter()
                os.fsync(fd)
                ts.append((time.perf_counter() - t) * 1e3)
        finally:
            os.close(fd)
            os.unlink(path)
        ts.sort()
        self.fsync_ms = (ts[len(ts) // 2], ts[int(len(ts) * 0.99) - 1], ts[-1])

    # -- report ----------------------------------------------------------

    def table(self):
        ng, sc, fa = (self.median_run(n) for n in ("nginx", "scrim", "fast"))
        pace = {n: sorted(rs, key=lambda r: r["p99_us"])[len(rs) // 2]
                for n, rs in self.pace_runs.items()}
        ratio = sc["rps"] / ng["rps"]
        ratio_fast = fa["rps"] / ng["rps"]
        rounds = ["%.2f" % (s["rps"] / n["rps"]) for s, n in zip(self.runs["scrim"], self.runs["nginx"])]
        ms = lambda us: "%.2f" % (us / 1e3)
        allrps = lambda n: " · ".join("%.0f" % r["rps"] for r in self.runs[n])
        cpu = "unknown CPU"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        L = []
        L.append("command: `make bench` (bench/proxy.sh)   %s, %d cores (%s), %s, Linux %s"
                 % (time.strftime("%Y-%m-%d", time.gmtime()), self.cores, cpu, platform.machine(),
                    platform.release()))
        L.append("")
        L.append("Payload: %d generated rrweb batches (form page full snapshot + incremental "
                 "events, fake PII canaries), %d-%d KB JSON, %.1f-%.1f KB gzip, POSTed with "
                 "`Content-Encoding: gzip` and a Bearer key; masked, %d bytes reach the upstream "
                 "(checked: no canary). Upstream: nginx answering 200. wrk -t%d -c%d -d%ds, "
                 "%d interleaved rounds, median by req/s (the latencies are that run's). "
                 "Client, proxies and upstream share the %d cores; load average %s during the rounds."
                 % (VARIANTS, min(self.json_sizes) // 1024, max(self.json_sizes) // 1024,
                    min(self.gz_sizes) / 1024, max(self.gz_sizes) / 1024, self.sample_bytes,
                    THREADS, CONNS, SECONDS, RUNS, self.cores,
                    " · ".join("%.1f" % x for x in self.load)))
        L.append("")
        L.append("| proxy | req/s (median) | req/s (each round) | p50 ms | p90 ms | p99 ms "
                 "| proxy CPU ms/req | vs nginx |")
        L.append("|---|---|---|---|---|---|---|---|")
        L.append("| nginx, pass-through (no masking) | %.0f | %s | %s | %s | %s | %.3f | 1.00 |"
                 % (ng["rps"], allrps("nginx"), ms(ng["p50_us"]), ms(ng["p90_us"]),
                    ms(ng["p99_us"]), ng["cpu_ms"]))
        L.append("| scrim, masking + storage + audit | %.0f | %s | %s | %s | %s | %.3f "
                 "| **%.2f** (rounds %s) |"
                 % (sc["rps"], allrps("scrim"), ms(sc["p50_us"]), ms(sc["p90_us"]),
                    ms(sc["p99_us"]), sc["cpu_ms"], ratio, " · ".join(rounds)))
        L.append("| scrim, masking only (no storage, no audit) | %.0f | %s | %s | %s | %s | %.3f "
                 "| %.2f |"
                 % (fa["rps"], allrps("fast"), ms(fa["p50_us"]), ms(fa["p90_us"]),
                    ms(fa["p99_us"]), fa["cpu_ms"], ratio_fast))
        L.append("")
        L.append("Latency at half of scrim's peak, %d req/s, open loop (bench/proxy/pace.c: timed "
                 "from each request's scheduled send, so queueing counts), %d s after 2 s warm-up, "
                 "the run with the median p99 of %d; load average %s:"
                 % (self.rate, SECONDS, RUNS, " · ".join("%.1f" % x for x in self.pace_load)))
        L.append("")
        L.append("| proxy at %d req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms |"
                 % self.rate)
        L.append("|---|---|---|---|---|---|")
        for n, label in (("nginx", "nginx, pass-through"),
                         ("scrim", "scrim, masking + storage + audit"),
                         ("fast", "scrim, masking only")):
            r = pace[n]
            p99 = ms(r["p99_us"]) if n != "scrim" else "**%s**" % ms(r["p99_us"])
            L.append("| %s | %.0f | %s | %s | %s | %s |" % (
                label, r["achieved_rps"], ms(r["p50_us"]), ms(r["p90_us"]), p99,
                ms(r["p999_us"])))
        L.append("")
        (s0, s1), (b0, b1) = self.mem_silent, self.mem_served
        L.append("Memory: a fresh scrim (the product's config, %d workers), warmed up, with "
                 "%d idle keep-alive connections: RSS %.1f -> %.1f MB (**%.1f KB per "
                 "connection**) when each connection has served one batch; in another fresh "
                 "one, %.1f -> %.1f MB (%.1f KB per connection) when they never sent a request."
                 % (self.cores, IDLE, b0 / 1024, b1 / 1024, (b1 - b0) / IDLE, s0 / 1024,
                    s1 / 1024, (s1 - s0) / IDLE))
        L.append("")
        L.append("One fsync of a 4 KiB append on the store's disk: p50 %.2f ms, p99 %.2f ms, "
                 "max %.2f ms (storage and audit commit with fsync before a 2xx)."
                 % self.fsync_ms)
        L.append("")
        p99 = pace["scrim"]["p99_us"] / 1e3
        ok_rps, ok_lat = ratio >= 0.5, p99 < 5.0
        L.append("Target: >= 0.50 of nginx's req/s while masking: %s (%.2f); p99 < 5 ms at half "
                 "of scrim's peak: %s (%.2f ms)."
                 % ("met" if ok_rps else "**missed**", ratio, "met" if ok_lat else "**missed**", p99))
        self.target_met = ok_rps and ok_lat
        return "\n".join(L) + "\n"


def main():
    if len(sys.argv) != 3:
        print("usage: run.py SCRIM OUT.md", file=sys.stderr)
        return 2
    scrim, out_md = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(os.path.dirname(out_md), exist_ok=True)
    # On the build directory's disk, not a tmpfs: fsync must cost what it costs.
    work = tempfile.mkdtemp(prefix="proxy-bench-", dir=os.path.dirname(out_md))
    b = Bench(scrim, out_md, work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        b.prepare()
        b.start()
        b.check_path()
        b.peak()
        b.paced()
        b.memory()
        b.fsync_probe()
        text = b.table()
        sys.stdout.write(text)
        with open(out_md, "w") as f:
            f.write(text)
        log("written to %s" % out_md)
        return 0
    except (BenchError, subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        log("FAILED: %s (work directory kept: %s)" % (e, work))
        os.environ["BENCH_KEEP"] = "1"
        return 1
    finally:
        b.procs.stop_all()
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
