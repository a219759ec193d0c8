#!/usr/bin/env python3
"""Run the declarative CLI cases in tests/cli/cases/*.json against the real
scrim binary.

Each case names the arguments, the stdin, the exit status and what stdout,
stderr and the files the command wrote must or must not contain. On top of
what a case asks, every case checks that no canary (the well-known fake PII
values below) survives in any output, in any encoding a value could take:
plain, JSON-escaped, base64 and URL-encoded, after gunzip when an output is
compressed.
"""
import base64
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

CANARIES = [
    "4111 1111 1111 1111", "4111111111111111", "4111-1111-1111-1111",
    "078-05-1120", "078051120",
    "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432",
    "jane.doe@example.com", "jane@@example",
    "+1 415 555 0100", "(415) 555-0100", "415 555 0100",
    "203.0.113.42", "hunter2", "correct horse battery staple",
    "Jane Q. Example", "Jane Doe",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    "MB-482913", "POL1234567897",
]


def encodings(value):
    """Every form a canary could take in an output."""
    forms = {value}
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=True)[1:-1])
    forms.add("".join("\\u%04x" % ord(c) for c in value))
    forms.add(urllib.parse.quote(value))
    forms.add(urllib.parse.quote_plus(value))
    raw = value.encode()
    for b in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms.add(b.decode().rstrip("="))
    return forms


def plain(data):
    """Decompress gzip outputs so a compressed canary is still found."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except OSError:
            pass
    return data.decode("utf-8", "replace")


def find_canaries(text, canaries):
    found = []
    for c in canaries:
        for form in encodings(c):
            if form and form in text:
                found.append((c, form))
                break
    return found


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in output")
    return dict(pairs)


class Case:
    def __init__(self, path, env):
        with open(path) as f:
            self.spec = json.load(f)
        self.name = os.path.basename(path)
        self.env = env

    def subst(self, s):
        for k, v in self.env.items():
            s = s.replace("{" + k + "}", v)
        return s

    def run(self, scrim):
        spec = self.spec
        work = tempfile.mkdtemp(prefix="case-", dir=self.env["tmp"])
        env = dict(self.env, work=work)
        self.env = env
        for cmd in spec.get("setup", []):
            done = subprocess.run(self.subst(cmd), shell=True, capture_output=True)
            if done.returncode != 0:
                return ["setup failed (%d): %s: %s" % (done.returncode, cmd,
                                                        done.stderr.decode()[:300])]
        args = [scrim] + [self.subst(a) for a in spec["args"]]
        stdin = spec.get("stdin")
        if "stdin_file" in spec:
            with open(self.subst(spec["stdin_file"]), "rb") as f:
                stdin = f.read()
        elif stdin is not None:
            stdin = stdin.encode("latin-1") if spec.get("stdin_latin1") else stdin.encode()
        p = subprocess.run(args, input=stdin or b"", capture_output=True, timeout=60)
        return self.check(p, work)

    def check(self, p, work):
        spec, errors = self.spec, []
        out, err = plain(p.stdout), p.stderr.decode("utf-8", "replace")
        if p.returncode != spec.get("exit", 0):
            errors.append("exit %d, expected %d; stderr: %s" % (p.returncode, spec.get("exit", 0), err.strip()[:300]))
        if spec.get("stdout_empty") and p.stdout:
            errors.append("stdout not empty (%d bytes)" % len(p.stdout))
        if spec.get("stdout_json"):
            try:
                json.loads(out, object_pairs_hook=no_duplicate_keys)
            except ValueError as e:
                errors.append("stdout is not strict JSON: %s" % e)
        for s in spec.get("stdout_contains", []):
            if self.subst(s) not in out:
                errors.append("stdout lacks %r" % s)
        for s in spec.get("stdout_not_contains", []):
            if self.subst(s) in out:
                errors.append("stdout has %r" % s)
        for s in spec.get("stderr_contains", []):
            if s not in err:
                errors.append("stderr lacks %r: %s" % (s, err.strip()[:300]))
        for s in spec.get("stderr_not_contains", []):
            if s in err:
                errors.append("stderr has %r" % s)
        if spec.get("stderr_one_line") and len(err.strip().splitlines()) != 1:
            errors.append("stderr is not one line: %r" % err[:300])
        errors += self.check_files(work)
        errors += self.check_same_values(out)
        texts = [("stdout", out, []), ("stderr", err, [])]
        for f in glob.glob(os.path.join(work, "*")):
            if os.path.isfile(f):
                with open(f, "rb") as fh:
                    texts.append((os.path.basename(f), plain(fh.read()), spec.get("file_canaries", [])))
        for where, text, extra in texts:
            for c, form in find_canaries(text, CANARIES + spec.get("canaries", []) + extra):
                errors.append("canary %r survived in %s (as %r)" % (c, where, form))
        return errors

    def check_same_values(self, out):
        """Paths whose values must be equal (a stable pseudonym) and changed."""
        paths = self.spec.get("same_values")
        if not paths:
            return []
        doc, vals = json.loads(out), []
        for path in paths:
            v = doc
            for part in path.split("."):
                v = v[int(part)] if isinstance(v, list) else v[part]
            vals.append(v)
        if len(set(vals)) != 1:
            return ["values at %s differ: %r" % (paths, vals)]
        return []

    def check_files(self, work):
        errors = []
        for name, want in self.spec.get("files", {}).items():
            path = os.path.join(work, name)
            if want is None:
                if os.path.exists(path):
                    errors.append("%s exists" % name)
                continue
            if not os.path.exists(path):
                errors.append("%s missing" % name)
                continue
            with open(path) as f:
                text = f.read()
            lines = [json.loads(l, object_pairs_hook=no_duplicate_keys) for l in text.splitlines()]
            for s in want.get("contains", []):
                if s not in text:
                    errors.append("%s lacks %r" % (name, s))
            if "types" in want:
                got = [l.get("type") for l in lines]
                if got != want["types"]:
                    errors.append("%s types %r, expected %r" % (name, got, want["types"]))
            for i, fields in want.get("records", {}).items():
                rec = lines[int(i)] if int(i) < len(lines) else {}
                for k, v in fields.items():
                    if rec.get(k) != v:
                        errors.append("%s[%s].%s = %r, expected %r" % (name, i, k, rec.get(k), v))
        return errors


def setup(scrim, tmp):
    shutil.copy(os.path.join(HERE, "scrim-test.yaml"), os.path.join(tmp, "scrim.yaml"))
    keys = os.path.join(tmp, "keys")
    os.mkdir(keys)
    for t in ("acme", "globex"):
        for what in ("new", "pseudonym"):
            subprocess.run([scrim, "keys", what, "--tenant", t, "--dir", keys], check=True,
                           capture_output=True)


def main():
    scrim = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="scrim-cli-")
    try:
        setup(scrim, tmp)
        env = {"tmp": tmp, "cfg": os.path.join(tmp, "scrim.yaml"),
               "payloads": os.path.join(HERE, "payloads"),
               "examples": os.path.join(HERE, "..", "..", "examples"),
               "keys": os.path.join(tmp, "keys"), "scrim": scrim,
               "store_cfg": os.path.join(HERE, "scrim-store.yaml")}
        passed = failed = 0
        for path in sorted(glob.glob(os.path.join(HERE, "cases", "*.json"))):
            errors = Case(path, dict(env)).run(scrim)
            if errors:
                failed += 1
                print("FAIL %s" % os.path.basename(path))
                for e in errors:
                    print("    " + e)
            else:
                passed += 1
                print("ok   %s" % os.path.basename(path))
        print("cli: %d passed, %d failed" % (passed, failed))
        return 1 if failed or passed == 0 else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
