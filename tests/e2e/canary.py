"""Find the e2e canaries in anything an SDK or scrim produced, in any encoding.

A body is decoded fully before it is searched: gzip and zlib streams are
inflated, `data=` form bodies URL-decoded, base64 decoded, Sentry envelopes
split into their items (and a zlib recording inflated), JSON parsed and
every key and string visited; inside JSON, strings that are themselves
gzip bytes as latin-1 characters (posthog-js's `cv: "2024-10"` fields),
base64, URL-encoded or JSON text are decoded again. The search then runs on
every leaf text with separators optional and case ignored, so
"4111111111111111", "GB82west..." or "Jane  Doe" count too.

`leaves(data)` gives the decoded texts (for counting: each value once);
`views(data)` gives those plus every raw layer met on the way (latin-1 of
the bytes, before and after each decoding): a zero search over views is the
paranoid one. Standard library only.
"""
import base64
import binascii
import gzip
import json
import re
import urllib.parse
import zlib

# The well-known fake values typed into or shown by the e2e form.
CANARIES = {
    "card": r"4111[\s\-]?1111[\s\-]?1111[\s\-]?1111",
    "ssn": r"078[\s\-]?05[\s\-]?1120",
    "iban": r"GB82\s?WEST\s?1234\s?5698\s?7654\s?32",
    "email": r"jane\.doe@example\.com",
    "name": r"Jane\s+Doe",
}
_RE = {k: re.compile(v, re.I) for k, v in CANARIES.items()}

MAX_DEPTH = 8
MAX_INFLATE = 64 << 20
_B64 = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")
_UESC = re.compile(r"\\u([0-9a-fA-F]{4})")


def count(texts):
    """{canary: occurrences} over an iterable of texts."""
    out = {k: 0 for k in CANARIES}
    for t in texts:
        for k, r in _RE.items():
            out[k] += len(r.findall(t))
    return out


def _inflate(data, wbits):
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, MAX_INFLATE)
    if not d.eof:
        raise ValueError("truncated or too big")
    return out, d.unused_data


def _gunzip_all(data):
    """Every member of a gzip stream, concatenated."""
    out = b""
    while data[:2] == b"\x1f\x8b":
        part, data = _inflate(data, 31)
        out += part
    return out


def _b64(s):
    t = s.strip()
    for dec in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return dec(t + "=" * (-len(t) % 4))
        except (binascii.Error, ValueError):
            continue
    return None


class _Walk:
    def __init__(self):
        self.leaves = []
        self.raw = []

    def text(self, s, depth):
        """A string from inside a document: decode what it may hold."""
        if depth > MAX_DEPTH:
            self.leaves.append(s)
            return
        if s[:2] == "\x1f\x8b" and all(ord(c) < 256 for c in s):
            try:
                self.raw.append(s)
                return self.bytes(s.encode("latin-1"), depth + 1)
            except (ValueError, OSError, EOFError, zlib.error):
                pass
        st = s.strip()
        if st[:1] in "[{" and st[-1:] in "]}":
            try:
                doc = json.loads(st)
                self.raw.append(s)
                return self.json(doc, depth + 1)
            except ValueError:
                pass
        if _B64.match(st):
            b = _b64(st)
            if b is not None and (b[:2] in (b"\x1f\x8b", b"\x78\x9c", b"\x78\x01", b"\x78\xda")
                                  or _printable(b)):
                self.raw.append(s)
                self.bytes(b, depth + 1)
                return
        if "%" in s:
            u = urllib.parse.unquote(s)
            if u != s:
                self.raw.append(s)
                return self.text(u, depth + 1)
        self.leaves.append(s)

    def json(self, doc, depth):
        if isinstance(doc, dict):
            for k, v in doc.items():
                self.text(k, depth)
                self.json(v, depth)
        elif isinstance(doc, list):
            for v in doc:
                self.json(v, depth)
        elif isinstance(doc, str):
            self.text(doc, depth)
        elif doc is not None and not isinstance(doc, bool):
            self.leaves.append(json.dumps(doc))

    def bytes(self, data, depth):
        """A body or a decoded layer."""
        self.raw.append(data.decode("latin-1"))
        if depth > MAX_DEPTH:
            self.leaves.append(data.decode("latin-1"))
            return
        if data[:2] == b"\x1f\x8b":
            return self.bytes(_gunzip_all(data), depth + 1)
        if data[:1] == b"\x78" and len(data) > 2 and (data[0] << 8 | data[1]) % 31 == 0:
            try:
                return self.bytes(_inflate(data, 15)[0], depth + 1)
            except (ValueError, zlib.error):
                pass
        text = data.decode("utf-8", "replace")
        st = text.strip()
        try:
            return self.json(json.loads(st), depth + 1)
        except ValueError:
            pass
        env = parse_envelope(data)
        if env is not None:
            return self.envelope(env, depth + 1)
        if _B64.match(st):
            b = _b64(st)
            if b is not None and (b[:2] in (b"\x1f\x8b", b"\x78\x9c", b"\x78\x01", b"\x78\xda")
                                  or _printable(b)):
                return self.bytes(b, depth + 1)
        if re.match(r"^[A-Za-z0-9_]+=", st) and "\n" not in st:
            for k, v in urllib.parse.parse_qsl(st, keep_blank_values=True):
                self.text(k, depth + 1)
                self.text(v, depth + 1)
            return
        if "%" in text:
            u = urllib.parse.unquote(text)
            if u != text:
                return self.bytes(u.encode("utf-8"), depth + 1)
        self.leaves.append(_UESC.sub(lambda m: chr(int(m.group(1), 16)), text))

    def envelope(self, env, depth):
        header, items = env
        self.json(header, depth)
        for ih, payload in items:
            self.json(ih, depth)
            if ih.get("type") == "replay_recording":
                first, rest = recording_split(payload)
                self.bytes(first, depth)
                self.bytes(rest, depth)
            else:
                self.bytes(payload, depth)


def _printable(b):
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sum(c.isprintable() or c in "\r\n\t" for c in s) >= 0.95 * len(s)


def parse_envelope(data):
    """(header, [(item header, payload bytes)]) of a Sentry envelope, read
    as Relay reads it (explicit length, else up to the next newline), or
    None when data is not one."""
    nl = data.find(b"\n")
    if nl < 0:
        return None
    try:
        header = json.loads(data[:nl])
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    items, pos = [], nl + 1
    while pos < len(data):
        e = data.find(b"\n", pos)
        if e < 0:
            return None
        try:
            ih = json.loads(data[pos:e])
        except ValueError:
            return None
        if not isinstance(ih, dict) or not isinstance(ih.get("type"), str):
            return None
        pos = e + 1
        if "length" in ih:
            n = ih["length"]
            if not isinstance(n, int) or pos + n > len(data):
                return None
            payload, pos = data[pos:pos + n], pos + n
            if pos < len(data):
                if data[pos:pos + 1] != b"\n":
                    return None
                pos += 1
        else:
            e = data.find(b"\n", pos)
            e = len(data) if e < 0 else e
            payload, pos = data[pos:e], e + 1
        items.append((ih, payload))
    return header, items


def recording_split(payload):
    """A replay_recording payload: ({"segment_id"} line, the events part)."""
    nl = payload.find(b"\n")
    if nl < 0:
        return payload, b""
    return payload[:nl], payload[nl + 1:]


def recording_events(payload):
    """The rrweb events of a replay_recording payload (plain or zlib)."""
    _, rest = recording_split(payload)
    if rest[:1] != b"[":
        rest = _inflate(rest, 15)[0]
    return json.loads(rest)


def walk(data):
    w = _Walk()
    if isinstance(data, str):
        w.text(data, 0)
    else:
        w.bytes(data, 0)
    return w


def leaves(data):
    return walk(data).leaves


def views(data):
    w = walk(data)
    return w.leaves + w.raw


def selftest():
    """Problems of the search itself: each encoding scrim's output or an
    SDK could use must be found, and masked text must not be."""
    card, email = "4111 1111 1111 1111", "jane.doe@example.com"
    doc = json.dumps({"t": card, "e": email}).encode()
    esc = json.dumps({"t": card, "e": email}, ensure_ascii=True).replace("@", "\\u0040").encode()
    zl = zlib.compress(doc)
    latin = gzip.compress(doc).decode("latin-1")
    recording = b'{"segment_id":0}\n' + zl
    envelope = (b'{"event_id":"e"}\n{"type":"replay_recording","length":%d}\n' % len(recording)
                + recording)
    samples = {
        "plain": doc,
        "json \\u escapes": esc,
        "gzip": gzip.compress(doc),
        "zlib": zl,
        "base64": base64.b64encode(doc),
        "form data=base64": b"data=" + urllib.parse.quote(base64.b64encode(doc)).encode(),
        "posthog cv string": json.dumps([{"cv": "2024-10", "data": latin}]).encode(),
        "sentry envelope, zlib recording": envelope,
        "url-encoded": urllib.parse.quote(json.dumps({"u": "?c=%s&e=%s" % (card, email)})).encode(),
        "no separators": b"4111111111111111 JANE.DOE@EXAMPLE.COM",
    }
    probs = []
    for name, data in samples.items():
        c = count(leaves(data))
        if c["card"] < 1 or c["email"] < 1:
            probs.append("the search misses canaries in %s: %s" % (name, c))
    masked = json.dumps({"t": "*" * len(card), "e": "[REDACTED:email]"}).encode()
    if sum(count(views(gzip.compress(masked))).values()):
        probs.append("the search finds a canary in masked text")
    return probs
