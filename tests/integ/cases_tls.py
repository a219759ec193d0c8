"""The TLS listener: TLS 1.3 and 1.2 with modern suites serve requests;
TLS 1.1 and a weak TLS 1.2 suite are refused at the handshake; plain HTTP
to the TLS port fails cleanly and the listener keeps serving.

A refusal only means something if the client really offered the old
protocol or suite: OpenSSL 3 on Debian hides TLS 1.1 and SHA-1 suites
below security level 0, so each refusal case first handshakes with a local
Python TLS server that allows them (the control), then with scrim."""
import json
import os
import socket
import ssl
import subprocess
import threading

from cases_mask import routes
from harness import Skip, Upstream, check, json_payload, raw_exchange, raw_status

WEAK_SUITES = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"


def make_cert(ctx):
    cert, key = os.path.join(ctx.dir, "cert.pem"), os.path.join(ctx.dir, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, timeout=30)
    check(p.returncode == 0, "openssl req failed: %s" % p.stderr.decode()[:200])
    os.chmod(key, 0o600)
    return cert, key


def start(ctx):
    cert, key = make_cert(ctx)
    up = Upstream(ctx).start()
    cfg = ctx.config(routes(up, ("json",)))
    cfg["listen"] = [{"addr": "127.0.0.1:%d" % ctx.port, "tls": {"cert": cert, "key": key}}]
    return up, ctx.scrim(cfg), cert, key


def client(cert, version=None, ciphers=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(cert)
    if version is not None:
        c.set_ciphers("ALL:@SECLEVEL=0")
        c.minimum_version = c.maximum_version = version
    if ciphers:
        c.set_ciphers(ciphers + ":@SECLEVEL=0")
    return c


def tls_post(ctx, tls, seq):
    """POST one payload over TLS; (status, negotiated version, cipher)."""
    body = json.dumps(json_payload(seq)).encode()
    req = ("POST /v1/json HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
           % (ctx.keys.api["acme"], len(body))).encode() + body
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=5) as raw:
        with tls.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            version, cipher = s.version(), s.cipher()[0]
            s.sendall(req)
            got = b""
            while True:
                try:
                    c = s.recv(65536)
                except ssl.SSLZeroReturnError:
                    break
                if not c:
                    break
                got += c
            return raw_status(got), version, cipher


def handshake_fails(port, tls):
    """'' when the handshake failed as a refusal should, else what happened."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with tls.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return "handshake succeeded with %s %s" % (s.version(), s.cipher()[0])
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return ""
    except OSError as e:
        return "unexpected error %r" % e


def control_server(cert, key, version, ciphers):
    """A one-shot Python TLS server that allows the old protocol or suite;
    returns (port, thread, result list)."""
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.set_ciphers((ciphers or "ALL") + ":@SECLEVEL=0")
    srv.minimum_version = srv.maximum_version = version
    srv.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(5)
    out = []

    def serve():
        try:
            conn, _ = ls.accept()
            with srv.wrap_socket(conn, server_side=True) as s:
                out.append((s.version(), s.cipher()[0]))
        except (OSError, ssl.SSLError) as e:
            out.append(repr(e))
        finally:
            ls.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return ls.getsockname()[1], t, out


def check_offered(cert, key, version, ciphers, tls):
    port, t, out = control_server(cert, key, version, ciphers)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with tls.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                got = (s.version(), s.cipher()[0])
    except (OSError, ssl.SSLError) as e:
        raise Skip("control: this Python/OpenSSL cannot offer it even to a server that allows "
                   "it (%r), so a refusal would prove nothing" % e)
    t.join(5)
    return got


def served(ctx, up, s, cert, seq):
    st, ver, cipher = tls_post(ctx, client(cert), seq)
    check(st == 200, "TLS 1.3 request after the refused one got %r: %s" % (st, s.tail(5)))
    check(s.proc.poll() is None, "scrim serve died")


def test_tls13(ctx):
    up, s, cert, _ = start(ctx)
    st, ver, cipher = tls_post(ctx, client(cert, ssl.TLSVersion.TLSv1_3), 1)
    check(st == 200 and ver == "TLSv1.3", "TLS 1.3: status %r version %r" % (st, ver))
    check(len(up.records()) == 1, "the TLS 1.3 request did not reach the upstream")
    check(s.stop() == 0, "scrim serve did not exit 0")
    ctx.assert_no_canary([up])


def test_tls12_modern(ctx):
    up, s, cert, _ = start(ctx)
    tls = client(cert)
    tls.maximum_version = ssl.TLSVersion.TLSv1_2
    st, ver, cipher = tls_post(ctx, tls, 1)
    check(st == 200 and ver == "TLSv1.2", "TLS 1.2: status %r version %r" % (st, ver))
    check("GCM" in cipher or "CHACHA20" in cipher, "TLS 1.2 negotiated %s, not an AEAD" % cipher)
    check(cipher.startswith("ECDHE"), "TLS 1.2 negotiated %s, not forward-secret" % cipher)
    check(s.stop() == 0, "scrim serve did not exit 0")


def test_tls11_refused(ctx):
    up, s, cert, key = start(ctx)
    tls = client(cert, ssl.TLSVersion.TLSv1_1)
    got = check_offered(cert, key, ssl.TLSVersion.TLSv1_1, None, tls)
    check(got[0] == "TLSv1.1", "control negotiated %r, not TLS 1.1" % (got,))
    why = handshake_fails(ctx.port, tls)
    check(not why, "TLS 1.1: %s" % why)
    served(ctx, up, s, cert, 2)
    check(s.stop() == 0, "scrim serve did not exit 0")


def test_tls12_weak_suite_refused(ctx):
    up, s, cert, key = start(ctx)
    tls = client(cert, ciphers=WEAK_SUITES)
    tls.minimum_version = tls.maximum_version = ssl.TLSVersion.TLSv1_2
    got = check_offered(cert, key, ssl.TLSVersion.TLSv1_2, WEAK_SUITES, tls)
    check(got[1] in WEAK_SUITES.split(":"), "control negotiated %r" % (got,))
    why = handshake_fails(ctx.port, tls)
    check(not why, "TLS 1.2 with only CBC-SHA1 suites offered: %s" % why)
    served(ctx, up, s, cert, 2)
    check(s.stop() == 0, "scrim serve did not exit 0")


def test_tls_plain_http_refused(ctx):
    up, s, cert, _ = start(ctx)
    req = b"POST /v1/json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    got, closed = raw_exchange(ctx.port, req, timeout=5)
    check(closed, "plain HTTP to the TLS port: connection still open after 5 s")
    clean = got == b"" or got[:1] == b"\x15" or (raw_status(got) or 0) in range(400, 500)
    check(clean, "plain HTTP to the TLS port got %r (not a close, alert or 4xx)" % got[:60])
    check(not up.records(), "a plain HTTP request to the TLS port reached the upstream")
    served(ctx, up, s, cert, 3)
    check(s.stop() == 0, "scrim serve did not exit 0")
