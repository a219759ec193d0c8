#!/usr/bin/env python3
"""Generate realistic rrweb recording batches for the proxy benchmark.

    gen_rrweb.py OUTDIR [--variants N] [--seed S]

Each batch is what rrweb's record() posts after a user has spent a few
seconds on a loan application form: a Meta event, a FullSnapshot of the page
(head with styles, a nav, a form of ~25 labelled fields with hints, a card
widget, a country select, a legal footer: a few hundred serialized nodes with
rrweb's whitespace text nodes), then IncrementalSnapshots: mouse moves,
focus/blur/clicks, scrolls, keystroke-by-keystroke Input events, validation
mutations (attributes, texts, an added error node, removals) and a custom
journey event. Variants differ in session id, timings and mouse paths, so
the proxy never sees one cached body.

Fake PII canaries ride where real users put them: the card number
4111 1111 1111 1111 typed into an input (and in its value attribute), the
email jane.doe@example.com typed, in a value attribute and in page text, the
SSN 078-05-1120 typed. The benchmark checks that none of them reaches the
upstream.

Writes OUTDIR/batch-K.json (the JSON, for checks) and OUTDIR/batch-K.json.gz
and prints one line of sizes per variant.
"""
import argparse
import gzip
import json
import os
import random

CANARIES = ["4111 1111 1111 1111", "jane.doe@example.com", "078-05-1120"]

FIELDS = [
    # (name, label, type, autocomplete, typed value or None)
    ("first_name", "First name", "text", "given-name", "Jane"),
    ("last_name", "Last name", "text", "family-name", "Doe"),
    ("email", "Email address", "email", "email", "jane.doe@example.com"),
    ("phone", "Mobile phone", "tel", "tel", "+1 202 555 0143"),
    ("dob", "Date of birth", "date", "bday", "1990-04-01"),
    ("ssn", "Social Security number", "text", "off", "078-05-1120"),
    ("address1", "Street address", "text", "address-line1", "1 Example Street"),
    ("address2", "Apartment, suite", "text", "address-line2", None),
    ("city", "City", "text", "address-level2", "Springfield"),
    ("state", "State", "text", "address-level1", "IL"),
    ("zip", "ZIP code", "text", "postal-code", "62701"),
    ("employer", "Employer", "text", "organization", "Example Corp"),
    ("job_title", "Job title", "text", "organization-title", "Engineer"),
    ("income", "Annual income (USD)", "number", "off", "85000"),
    ("housing", "Monthly housing cost", "number", "off", "1500"),
    ("years_address", "Years at this address", "number", "off", "4"),
    ("loan_amount", "Loan amount", "number", "off", "12000"),
    ("purpose", "Purpose of the loan", "text", "off", "Home improvement"),
    ("ref_name", "Reference name", "text", "off", None),
    ("ref_phone", "Reference phone", "tel", "off", None),
    ("promo", "Promo code", "text", "off", None),
    ("card_name", "Name on card", "text", "cc-name", "Jane Doe"),
    ("card_number", "Card number", "text", "cc-number", "4111 1111 1111 1111"),
    ("card_exp", "Expiry (MM/YY)", "text", "cc-exp", "12/29"),
    ("card_cvc", "Security code", "password", "cc-csc", "123"),
]
COUNTRIES = [
    "United States", "Canada", "Mexico", "United Kingdom", "Ireland", "France",
    "Germany", "Spain", "Portugal", "Italy", "Netherlands", "Belgium",
    "Luxembourg", "Switzerland", "Austria", "Denmark", "Sweden", "Norway",
    "Finland", "Iceland", "Poland", "Czechia", "Slovakia", "Hungary",
]
LEGAL = (
    "Loans are subject to credit approval. Rates shown assume excellent credit "
    "and automatic payments. Your actual rate may differ. Checking your rate "
    "will not affect your credit score; a hard inquiry happens only when you "
    "accept an offer. By continuing you agree to the electronic communications "
    "policy and confirm that the information you provide is accurate. "
)
CSS = "".join(
    ".field-%d{margin:0 0 12px;display:flex;flex-direction:column}"
    ".field-%d label{font:600 14px/1.4 system-ui;color:#1f2937}"
    ".field-%d input{border:1px solid #d1d5db;border-radius:6px;padding:8px 10px}" % (i, i, i)
    for i in range(10)
)


class Page:
    """Builds rrweb serialized nodes with increasing ids."""

    def __init__(self):
        self.next_id = 1
        self.nodes = {}
        self.ids = {}

    def nid(self):
        self.next_id += 1
        return self.next_id - 1

    def text(self, s):
        return {"type": 3, "textContent": s, "id": self.nid()}

    def ws(self, depth):
        return self.text("\n" + "  " * depth)

    def el(self, tag, attrs=None, children=(), key=None, depth=0):
        node = {"type": 2, "tagName": tag, "attributes": attrs or {}, "childNodes": [],
                "id": self.nid()}
        for c in children:
            node["childNodes"].append(self.ws(depth + 1))
            node["childNodes"].append(c)
        if children:
            node["childNodes"].append(self.ws(depth))
        if key:
            self.nodes[key] = node
        return node

    def renumber(self, root):
        """Children are built before their parent; rrweb numbers in pre-order."""
        self.next_id = 1
        stack = [root]
        while stack:
            n = stack.pop()
            n["id"] = self.nid()
            stack.extend(reversed(n.get("childNodes", [])))
        self.ids = {k: n["id"] for k, n in self.nodes.items()}


def head(p):
    return p.el("head", {}, [
        p.el("meta", {"charset": "utf-8"}),
        p.el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        p.el("title", {}, [p.text("Apply for a personal loan - Personal details")]),
        p.el("link", {"rel": "stylesheet", "href": "https://bank.example.com/static/app.4f9c2e.css"}),
        p.el("style", {"_cssText": CSS}),
        p.el("script", {"src": "https://bank.example.com/static/app.4f9c2e.js", "defer": ""}),
    ], depth=1)


def nav(p):
    items = ["Personal loans", "Credit cards", "Savings", "Mortgages", "Help", "Sign in"]
    lis = [p.el("li", {"class": "nav-item"}, [
        p.el("a", {"href": "https://bank.example.com/%s" % t.lower().replace(" ", "-"),
                   "class": "nav-link"}, [p.text(t)])]) for t in items]
    return p.el("header", {"class": "site-header"}, [
        p.el("a", {"href": "https://bank.example.com/", "class": "logo",
                   "aria-label": "Example Bank home"}, [p.text("Example Bank")]),
        p.el("nav", {"aria-label": "Main"}, [p.el("ul", {"class": "nav"}, lis)]),
    ], depth=2)


def field(p, i, name, label, typ, auto):
    attrs = {"type": typ, "name": name, "id": name, "autocomplete": auto,
             "class": "input", "aria-describedby": name + "-hint"}
    if name == "email":
        attrs["value"] = "jane.doe@example.com"
    if name == "card_number":
        attrs["value"] = "4111 1111 1111 1111"
        attrs["inputmode"] = "numeric"
    inp = p.el("input", attrs, key=name)
    return p.el("div", {"class": "field field-%d" % i}, [
        p.el("label", {"for": name}, [p.text(label)]),
        inp,
        p.el("span", {"class": "hint", "id": name + "-hint"},
             [p.text("As on your ID.")]),
        p.el("span", {"class": "error", "role": "alert", "hidden": ""}, key=name + "-err"),
    ], depth=5)


def form(p):
    rows = [field(p, i, *f[:4]) for i, f in enumerate(FIELDS) if not f[0].startswith("card")]
    opts = [p.el("option", {"value": c[:2].upper()}, [p.text(c)]) for c in COUNTRIES]
    rows.append(p.el("div", {"class": "field"}, [
        p.el("label", {"for": "country"}, [p.text("Country")]),
        p.el("select", {"name": "country", "id": "country"}, opts, key="country"),
    ], depth=5))
    terms = [p.el("label", {"class": "radio"}, [
        p.el("input", {"type": "radio", "name": "loan_term", "value": str(m)}, key="term%d" % m),
        p.text("%d months" % m)]) for m in (12, 24, 36, 48, 60)]
    rows.append(p.el("fieldset", {"class": "terms"}, [p.el("legend", {}, [p.text("Term")])] + terms,
                     depth=5))
    card = [field(p, 30 + i, *f[:4]) for i, f in enumerate(FIELDS) if f[0].startswith("card")]
    rows.append(p.el("div", {"id": "card-widget", "class": "card", "rr_width": "480px",
                             "rr_height": "220px"}, card, depth=5))
    rows.append(p.el("label", {"class": "consent"}, [
        p.el("input", {"type": "checkbox", "name": "consent", "id": "consent"}, key="consent"),
        p.text("I agree to the terms and the privacy notice")], depth=5))
    rows.append(p.el("textarea", {"name": "comments", "id": "comments", "rows": "4"}, key="comments"))
    rows.append(p.el("button", {"type": "submit", "class": "btn btn-primary"},
                     [p.text("Continue")], key="submit"))
    return p.el("form", {"id": "apply", "method": "post", "action": "/apply/personal",
                         "novalidate": ""}, rows, key="form", depth=4)


def body(p):
    main = p.el("main", {"class": "container"}, [
        p.el("h1", {}, [p.text("Personal details")]),
        p.el("p", {"class": "greeting"}, [p.text("Welcome back, Jane Doe (jane.doe@example.com)")]),
        p.el("ol", {"class": "steps"}, [p.el("li", {"class": c}, [p.text(t)]) for c, t in
                                         (("active", "Personal"), ("", "Payment"), ("", "Review"))]),
        form(p),
    ], depth=3)
    foot = p.el("footer", {"class": "legal"}, [
        p.el("p", {}, [p.text(LEGAL)]),
        p.el("p", {}, [p.text("Example Bank, N.A. Member FDIC. Equal Housing Lender. NMLS 000000.")]),
        p.el("ul", {}, [p.el("li", {}, [p.el("a", {"href": "https://bank.example.com/" + s}, [p.text(s)])])
                        for s in ("privacy", "terms", "accessibility", "security", "contact")]),
    ], depth=3)
    return p.el("body", {"class": "page-apply"}, [nav(p), main, foot], depth=2)


def snapshot(p):
    html = p.el("html", {"lang": "en"}, [head(p), body(p)], depth=1)
    doctype = {"type": 1, "name": "html", "publicId": "", "systemId": "", "id": p.nid()}
    root = {"type": 0, "childNodes": [doctype, html], "compatMode": "CSS1Compat", "id": 0}
    p.renumber(root)
    return root


def count_nodes(n):
    return 1 + sum(count_nodes(c) for c in n.get("childNodes", []))


class Clock:
    def __init__(self, rnd, t0):
        self.rnd, self.t = rnd, t0

    def tick(self, lo, hi):
        self.t += self.rnd.randint(lo, hi)
        return self.t


def incremental(ts, source, **data):
    data["source"] = source
    return {"type": 3, "data": data, "timestamp": ts}


def mouse(rnd, clk, ids, n):
    """rrweb batches mouse positions every 500 ms with negative time offsets."""
    pos = [{"x": rnd.randint(0, 1280), "y": rnd.randint(0, 2400), "id": rnd.choice(ids),
            "timeOffset": -rnd.randint(0, 480)} for _ in range(n)]
    return incremental(clk.tick(400, 600), 1, positions=pos)


def typing(rnd, clk, p, name, value):
    """Focus, one Input event per keystroke (the whole value so far), blur."""
    nid = p.ids[name]
    out = [incremental(clk.tick(200, 900), 2, type=5, id=nid)]
    for k in range(1, len(value) + 1):
        out.append(incremental(clk.tick(60, 220), 5, text=value[:k], isChecked=False,
                               userTriggered=True, id=nid))
    out.append(incremental(clk.tick(100, 400), 2, type=6, id=nid))
    return out


def validation(clk, p, name, ok):
    """What a form library does on blur: classes, aria-invalid, error text."""
    err = p.ids[name + "-err"]
    attrs = [{"id": p.ids[name], "attributes": {"aria-invalid": "false" if ok else "true",
                                                 "class": "input " + ("is-valid" if ok else "is-invalid")}}]
    if ok:
        return [incremental(clk.tick(5, 20), 0, texts=[], attributes=attrs + [
            {"id": err, "attributes": {"hidden": ""}}], removes=[], adds=[])]
    add = {"parentId": err, "nextId": None,
           "node": {"type": 3, "textContent": "Please check this field", "id": p.nid()}}
    return [incremental(clk.tick(5, 20), 0, texts=[], removes=[], adds=[add],
                        attributes=attrs + [{"id": err, "attributes": {"hidden": None}}])]


def events(rnd, p, root, session):
    clk = Clock(rnd, 1764400000000 + rnd.randint(0, 10 ** 7))
    ev = [{"type": 4, "data": {"href": "https://bank.example.com/apply/personal?ref=email",
                               "width": 1280, "height": 800}, "timestamp": clk.tick(0, 5)},
          {"type": 2, "data": {"node": root, "initialOffset": {"left": 0, "top": 0}},
           "timestamp": clk.tick(5, 30)},
          {"type": 5, "data": {"tag": "personal", "payload": {"variant": "b", "step": 1}},
           "timestamp": clk.tick(1, 5)}]
    ids = sorted(p.ids.values())
    for name, _label, _typ, _auto, value in FIELDS:
        ev.append(mouse(rnd, clk, ids, rnd.randint(4, 10)))
        if rnd.random() < 0.3:
            ev.append(incremental(clk.tick(50, 300), 3, id=1, x=0, y=rnd.randint(0, 1800)))
        if value is None:
            continue
        ev.extend(typing(rnd, clk, p, name, value))
        ev.extend(validation(clk, p, name, ok=rnd.random() < 0.85))
    ev.append(incremental(clk.tick(300, 900), 2, type=2, id=p.ids["term36"], x=412, y=1630))
    ev.append(incremental(clk.tick(20, 60), 5, text="on", isChecked=True, userTriggered=True,
                          id=p.ids["term36"]))
    ev.append(incremental(clk.tick(300, 900), 2, type=2, id=p.ids["consent"], x=40, y=2010))
    ev.append(incremental(clk.tick(20, 60), 5, text="on", isChecked=True, userTriggered=True,
                          id=p.ids["consent"]))
    ev.append(incremental(clk.tick(500, 1500), 4, width=1280, height=720))
    # A leak the structure cannot see: the app logs its form state, and
    # rrweb's console plugin records it. Only the detectors catch this one.
    ev.append({"type": 6, "timestamp": clk.tick(5, 50), "data": {
        "plugin": "rrweb/console@1", "payload": {
            "level": "log", "trace": ["submit (https://bank.example.com/static/app.4f9c2e.js:1:48211)"],
            "payload": ['"submit"', '{"email":"jane.doe@example.com","step":"personal"}']}}})
    ev.append(incremental(clk.tick(300, 900), 2, type=2, id=p.ids["submit"], x=640, y=2200))
    ev.append(incremental(clk.tick(5, 20), 0, texts=[{"id": p.nodes["submit"]["childNodes"][1]["id"], "value": "Saving..."}],
                          attributes=[{"id": p.ids["submit"], "attributes": {"disabled": ""}}],
                          removes=[{"parentId": p.ids["form"], "id": p.ids["comments"]}], adds=[]))
    return {"session_id": session, "events": ev}


def batch(seed):
    rnd = random.Random(seed)
    p = Page()
    root = snapshot(p)
    session = "%08x-%04x-4%03x-a%03x-%012x" % tuple(rnd.getrandbits(b) for b in (32, 16, 12, 12, 48))
    return events(rnd, p, root, session), count_nodes(root)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--variants", type=int, default=8)
    ap.add_argument("--seed", type=int, default=20261129)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    for k in range(a.variants):
        doc, nodes = batch(a.seed + k)
        raw = json.dumps(doc, separators=(",", ":")).encode()
        for c in CANARIES:
            assert c.encode() in raw, c
        gz = gzip.compress(raw, compresslevel=6, mtime=0)
        base = os.path.join(a.outdir, "batch-%d" % k)
        with open(base + ".json", "wb") as f:
            f.write(raw)
        with open(base + ".json.gz", "wb") as f:
            f.write(gz)
        print("batch-%d: %d events, %d snapshot nodes, %d bytes JSON, %d bytes gzip"
              % (k, len(doc["events"]), nodes, len(raw), len(gz)))


if __name__ == "__main__":
    main()
