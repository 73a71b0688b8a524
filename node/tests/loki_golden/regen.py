#!/usr/bin/env python3
"""Asks a real Grafana Loki every request of the golden tests and writes its
answers to node/tests/loki_golden/golden/*.json.

    LOKI_BIN=/path/to/loki python3 node/tests/loki_golden/regen.py

Python 3 standard library only. It starts Loki (-target=all) in a temporary
directory with loki.yaml (beside this file), pushes the two datasets
(api/tests/corpus/dataset.json as tenant `fake`, shop.json as tenant `shop`),
waits until Loki answers with all of their lines, asks every request of
requests.txt and every case of api/tests/corpus/cases/*.txt, twice, and
writes one golden file per group: the status and the JSON body (with
`data.stats` removed, and the streams of a `streams` result and the label
sets of /series in a canonical order), or the status and the error text.
Answers that differ between the two rounds are reported, and marked
`"unstable": true` (the first round is kept).

Options: --keep (keep the temporary directory and print its path),
--only SUBSTR (ask only requests whose name contains SUBSTR; prints the
answers and writes nothing).
"""

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CORPUS = os.path.join(ROOT, "api", "tests", "corpus")
GOLDEN = os.path.join(HERE, "golden")
COMMAND = "LOKI_BIN=/path/to/loki python3 node/tests/loki_golden/regen.py"

DATASETS = [
    # (tenant, push body)
    ("fake", os.path.join(CORPUS, "dataset.json")),
    ("shop", os.path.join(HERE, "shop.json")),
]

# ---------------------------------------------------------------- requests

CONTROL_KEYS = {"endpoint", "tenant", "method", "header", "status"}


def parse_requests(text, source, default_group):
    """Blocks `=== name` of key: value lines; the same format (and the same
    rules) as node/tests/loki_golden.rs and api/tests/logql_corpus.rs. A
    corpus case's `status` and expectation after `---` are ignored."""
    out = []
    group = default_group
    cur = None
    in_body = False

    def finish(c):
        if c is None:
            return
        if not c["endpoint"]:
            raise SystemExit(f"{source}:{c['line']}: {c['name']}: no endpoint")
        out.append(c)

    for i, raw in enumerate(text.split("\n")):
        raw = raw.rstrip("\r")
        if raw.startswith("### group:"):
            finish(cur)
            cur = None
            in_body = False
            group = raw[len("### group:") :].strip()
            continue
        if raw.startswith("=== "):
            finish(cur)
            cur = {
                "name": raw[4:].strip(),
                "group": group,
                "line": i + 1,
                "endpoint": "",
                "tenant": "fake",
                "method": "GET",
                "headers": [],
                "params": [],
            }
            in_body = False
            continue
        t = raw.strip()
        if cur is None:
            if t == "" or t.startswith("#"):
                continue
            raise SystemExit(f"{source}:{i + 1}: text before the first `=== name` line")
        if in_body or t == "" or t.startswith("#"):
            continue
        if t == "---":
            in_body = True
            continue
        if ":" not in raw:
            raise SystemExit(f"{source}:{i + 1}: expected `key: value`, got {raw!r}")
        k, v = raw.split(":", 1)
        k, v = k.strip(), v.lstrip()
        if k == "endpoint":
            cur["endpoint"] = v.strip()
        elif k == "tenant":
            cur["tenant"] = v.strip()
        elif k == "method":
            cur["method"] = v.strip().upper()
        elif k == "header":
            if "=" in v:
                hk, hv = v.split("=", 1)
                cur["headers"].append([hk.strip(), hv.strip()])
            else:
                cur["headers"].append(["X-Loki-Response-Encoding-Flags", v.strip()])
        elif k == "status":
            pass
        else:
            cur["params"].append([k, v])
    finish(cur)
    return out


def load_requests():
    reqs = []
    files = sorted(f for f in os.listdir(os.path.join(CORPUS, "cases")) if f.endswith(".txt"))
    for f in files:
        path = os.path.join(CORPUS, "cases", f)
        with open(path, encoding="utf-8") as fh:
            group = "corpus_" + f[: -len(".txt")]
            for r in parse_requests(fh.read(), path, group):
                r["source"] = "api/tests/corpus/cases/" + f
                reqs.append(r)
    path = os.path.join(HERE, "requests.txt")
    with open(path, encoding="utf-8") as fh:
        for r in parse_requests(fh.read(), path, "requests"):
            r["source"] = "node/tests/loki_golden/requests.txt"
            reqs.append(r)
    seen = set()
    for r in reqs:
        if r["name"] in seen:
            raise SystemExit(f"duplicate request name {r['name']}")
        seen.add(r["name"])
    return reqs


def request_record(r):
    """What the golden records about a request (the test checks that the
    request files still say the same)."""
    return {
        "method": r["method"],
        "path": "/loki/api/v1/" + r["endpoint"],
        "tenant": r["tenant"],
        "params": r["params"],
        "headers": r["headers"],
    }


# ---------------------------------------------------------------- http


def http(method, url, tenant=None, params=None, headers=(), body=None, content_type=None, timeout=120):
    params = params or []
    data = body
    if method == "GET":
        if params:
            url += "?" + urllib.parse.urlencode([tuple(p) for p in params])
    elif params:
        data = urllib.parse.urlencode([tuple(p) for p in params]).encode()
        content_type = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method)
    if tenant and tenant != "-":
        req.add_header("X-Scope-OrgID", tenant)
    if content_type:
        req.add_header("Content-Type", content_type)
    for k, v in headers:
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- loki


class Loki:
    def __init__(self, binary, keep):
        self.dir = tempfile.mkdtemp(prefix="loki-golden-")
        self.keep = keep
        self.http_port, self.grpc_port = free_port(), free_port()
        with open(os.path.join(HERE, "loki.yaml"), encoding="utf-8") as f:
            cfg = f.read()
        cfg = (
            cfg.replace("__DATA_DIR__", os.path.join(self.dir, "data"))
            .replace("__HTTP_PORT__", str(self.http_port))
            .replace("__GRPC_PORT__", str(self.grpc_port))
        )
        cfg_path = os.path.join(self.dir, "loki.yaml")
        with open(cfg_path, "w", encoding="utf-8") as f:
            f.write(cfg)
        self.log = open(os.path.join(self.dir, "loki.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "-target=all", "-config.file=" + cfg_path],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )

    def url(self, path):
        return f"http://127.0.0.1:{self.http_port}{path}"

    def wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"loki exited with {self.proc.returncode}; see {self.dir}/loki.log")
            try:
                status, _ = http("GET", self.url("/ready"), timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"loki not ready after {timeout}s; see {self.dir}/loki.log")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self.keep:
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def dataset_stats(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    ts = [int(v[0]) for s in doc["streams"] for v in s["values"]]
    return len(ts), min(ts), max(ts)


def push_and_wait(loki):
    for tenant, path in DATASETS:
        with open(path, "rb") as f:
            body = f.read()
        status, text = http(
            "POST", loki.url("/loki/api/v1/push"), tenant=tenant, body=body, content_type="application/json"
        )
        if status != 204:
            raise SystemExit(f"push of {path} as {tenant}: {status} {text}")
    # Queryable: every line comes back (the first queries wait for the
    # frontend to connect to the scheduler, several seconds after /ready).
    deadline = time.time() + 180
    for tenant, path in DATASETS:
        lines, first, last = dataset_stats(path)
        window = (last - first) // 10**9 + 2
        params = [
            ["query", f'sum(count_over_time({{service_name=~".+"}} [{window}s]))'],
            ["time", str(last + 10**9)],
        ]
        # service_name is on every stream (discovered at ingest).
        while True:
            status, text = http("GET", loki.url("/loki/api/v1/query"), tenant=tenant, params=params)
            got = None
            if status == 200:
                res = json.loads(text)["data"]["result"]
                got = int(float(res[0]["value"][1])) if res else 0
                if got == lines:
                    break
            if time.time() > deadline:
                raise SystemExit(f"tenant {tenant}: Loki counts {got} lines of {lines} ({status} {text[:300]})")
            time.sleep(1)


def loki_version(loki):
    status, text = http("GET", loki.url("/loki/api/v1/status/buildinfo"))
    if status != 200:
        return {"version": "unknown"}
    info = json.loads(text)
    return {k: info.get(k, "") for k in ("version", "revision", "branch", "goVersion")}


# ---------------------------------------------------------------- answers


def canonical(body, endpoint):
    """The body as the golden keeps it: data.stats dropped, the streams of a
    `streams` result and the label sets of /series sorted (Loki's order of
    them carries no meaning and changes from run to run); the series of a
    matrix or vector keep Loki's order."""
    if endpoint == "series" and isinstance(body, dict) and isinstance(body.get("data"), list):
        body["data"] = sorted(
            (dict(sorted(s.items())) for s in body["data"]), key=lambda s: json.dumps(s, sort_keys=True)
        )
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        data = body["data"]
        data.pop("stats", None)
        if data.get("resultType") == "streams" and isinstance(data.get("result"), list):
            data["result"].sort(key=lambda s: json.dumps(s.get("stream"), sort_keys=True))
    return body


def ask(loki, r):
    status, text = http(
        r["method"],
        loki.url("/loki/api/v1/" + r["endpoint"]),
        tenant=r["tenant"],
        params=r["params"],
        headers=r["headers"],
    )
    answer = {"status": status}
    try:
        answer["body"] = canonical(json.loads(text), r["endpoint"])
    except ValueError:
        answer["error"] = varying_parts_out(text.strip())
    return answer


def varying_parts_out(error):
    """A pipeline error names one of the failing series, whichever Loki met
    first (it changes from run to run): it becomes `…`, which the test
    matches with any text."""
    head, sep, rest = error.partition(" for series: '")
    if not sep:
        return error
    end = rest.find("}'")
    return head + sep + "…" + (rest[end + 1 :] if end >= 0 else "")


def close(a, b):
    """Equal, or numbers (or number strings) within a relative 1e-9."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return False
    return math.isfinite(x) and math.isfinite(y) and abs(x - y) <= 1e-9 * max(abs(x), abs(y))


# ---------------------------------------------------------------- output


def dump(v, indent=0):
    """JSON, indented, with arrays of scalars (points, label lists) on one
    line: deterministic and readable in a diff."""
    pad = "  " * indent
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [f"{pad}  {json.dumps(k, ensure_ascii=False)}: {dump(x, indent + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v) or (
            all(isinstance(x, list) and all(not isinstance(y, (dict, list)) for y in x) for x in v) and len(v) <= 1
        ):
            return json.dumps(v, ensure_ascii=False)
        if all(isinstance(x, list) and all(not isinstance(y, (dict, list)) for y in x) for x in v):
            return "[\n" + ",\n".join(pad + "  " + json.dumps(x, ensure_ascii=False) for x in v) + "\n" + pad + "]"
        return "[\n" + ",\n".join(pad + "  " + dump(x, indent + 1) for x in v) + "\n" + pad + "]"
    return json.dumps(v, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    binary = os.environ.get("LOKI_BIN", "loki")
    if shutil.which(binary) is None:
        raise SystemExit(f"LOKI_BIN={binary}: not found (a Grafana Loki 3.7.6 binary)")

    reqs = load_requests()
    if args.only:
        reqs = [r for r in reqs if args.only in r["name"]]
    loki = Loki(binary, args.keep)
    started = time.time()
    try:
        loki.wait_ready()
        push_and_wait(loki)
        version = loki_version(loki)
        print(f"loki {version.get('version')} ({version.get('revision')}) ready after {time.time() - started:.1f}s")
        answers = {r["name"]: ask(loki, r) for r in reqs}
        unstable = []
        for r in reqs:
            again = ask(loki, r)
            if not close(answers[r["name"]], again):
                unstable.append(r["name"])
    finally:
        loki.stop()

    if args.only:
        for r in reqs:
            print(f"=== {r['name']}\n{dump(answers[r['name']])}")
        return
    groups = {}
    for r in reqs:
        groups.setdefault(r["group"], []).append(r)
    os.makedirs(GOLDEN, exist_ok=True)
    for old in os.listdir(GOLDEN):
        if old.endswith(".json") and old[: -len(".json")] not in groups:
            os.remove(os.path.join(GOLDEN, old))
    for group, rs in groups.items():
        doc = {
            "generated_by": f"Grafana Loki {version.get('version')} (revision {version.get('revision')})",
            "command": COMMAND,
            "config": "node/tests/loki_golden/loki.yaml",
            "requests_from": rs[0]["source"],
            "cases": [
                {
                    "name": r["name"],
                    "request": request_record(r),
                    **answers[r["name"]],
                    **({"unstable": True} if r["name"] in unstable else {}),
                }
                for r in rs
            ],
        }
        with open(os.path.join(GOLDEN, group + ".json"), "w", encoding="utf-8") as f:
            f.write(dump(doc) + "\n")
    statuses = {}
    for a in answers.values():
        statuses[a["status"]] = statuses.get(a["status"], 0) + 1
    print(f"{len(reqs)} requests in {len(groups)} golden files; statuses {dict(sorted(statuses.items()))}")
    if unstable:
        print(f"answers that differed between two rounds (first kept): {', '.join(unstable)}")


if __name__ == "__main__":
    main()
