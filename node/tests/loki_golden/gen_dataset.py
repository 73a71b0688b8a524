#!/usr/bin/env python3
"""Writes shop.json, the second dataset of the Loki golden tests (tenant `shop`).

    python3 node/tests/loki_golden/gen_dataset.py

A Loki push body like api/tests/corpus/dataset.json, but closer to real
traffic and larger: 10 streams of a small web shop over three hours,
2024-01-02T22:30:00Z to 2024-01-03T01:30:00Z, so queries cross Loki's
1h split interval and a 24h index period. Lines are logfmt (with `ts=`,
quoted messages, durations, sizes, a unique request_id per line, so a query
grouping by every parsed label exceeds max_query_series), JSON with nested
objects, an nginx access log (for `pattern`), and a stream with structured
metadata. The output is checked in; this script only documents how it was
made (and makes it again, byte for byte, from the fixed seed).
"""

import json
import os
import random

START_NS = 1704234600 * 10**9  # 2024-01-02T22:30:00Z
SPAN_S = 3 * 3600
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shop.json")

rng = random.Random(20240102)

PATHS = ["/", "/api/cart", "/api/products", "/api/products/42", "/api/checkout", "/api/login", "/healthz"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
USERS = [f"u{i}" for i in range(40)]


def level():
    r = rng.random()
    return "debug" if r < 0.1 else "info" if r < 0.75 else "warn" if r < 0.9 else "error"


def status_for(lvl):
    if lvl == "error":
        return rng.choice([500, 502, 503])
    if lvl == "warn":
        return rng.choice([400, 404, 429])
    return rng.choice([200, 200, 200, 201, 204, 304])


def times(mean_gap_s):
    """Timestamps (ns) from START, gaps uniformly around mean_gap_s, with
    millisecond parts, never beyond START + SPAN."""
    t = START_NS + rng.randrange(0, mean_gap_s * 10**9)
    out = []
    while t < START_NS + SPAN_S * 10**9:
        out.append(t)
        t += rng.randrange(mean_gap_s // 2 * 10**9, mean_gap_s * 3 // 2 * 10**9, 10**6)
    return out


def iso(ns):
    s, frac = divmod(ns, 10**9)
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac // 10**6:03d}Z"


def request_id():
    return "%016x" % rng.getrandbits(64)


def logfmt_stream(app, pod, gap):
    values = []
    for t in times(gap):
        lvl = level()
        st = status_for(lvl)
        dur = rng.choice([f"{rng.randrange(1, 900)}ms", f"{rng.randrange(1, 30) / 10}s", f"{rng.randrange(50, 999)}us"])
        size = rng.choice([f"{rng.randrange(1, 999)}B", f"{rng.randrange(1, 99) / 10}KB", f"{rng.randrange(1, 30) / 10}MB"])
        msg = {"info": "request served", "debug": "cache lookup", "warn": "slow request", "error": "upstream failed"}[lvl]
        line = (
            f"ts={iso(t)} level={lvl} caller={app}.go:{rng.randrange(10, 400)} "
            f"method={rng.choice(METHODS)} path={rng.choice(PATHS)} status={st} "
            f"duration={dur} bytes={size} latency_ms={rng.randrange(1, 5000) / 10} "
            f"user={rng.choice(USERS)} request_id={request_id()} msg=\"{msg}\""
        )
        if lvl == "error":
            line += ' err="connection reset by peer"'
        values.append([str(t), line])
    return {"stream": {"namespace": "shop", "app": app, "pod": pod, "tier": "backend"}, "values": values}


def json_stream(app, pod, gap):
    values = []
    for t in times(gap):
        lvl = level()
        doc = {
            "time": iso(t),
            "level": lvl,
            "msg": "login ok" if lvl in ("info", "debug") else "login failed",
            "user": {"id": rng.randrange(0, 40), "name": rng.choice(USERS), "roles": ["buyer"]},
            "latency_ms": rng.randrange(1, 3000) / 10,
            "status": status_for(lvl),
            "mfa": rng.random() < 0.3,
        }
        values.append([str(t), json.dumps(doc, separators=(",", ":"))])
    return {"stream": {"namespace": "shop", "app": app, "pod": pod, "tier": "edge"}, "values": values}


def nginx_stream(gap):
    import time

    values = []
    for t in times(gap):
        st = status_for(level())
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t // 10**9))
        ip = f"10.0.{rng.randrange(0, 4)}.{rng.randrange(1, 255)}"
        agent = rng.choice(["curl/8.4.0", "Mozilla/5.0", "kube-probe/1.29"])
        line = f'{ip} - - [{stamp}] "{rng.choice(METHODS)} {rng.choice(PATHS)} HTTP/1.1" {st} {rng.randrange(0, 20000)} "-" "{agent}"'
        values.append([str(t), line])
    return {"stream": {"namespace": "shop", "app": "gateway", "pod": "gateway-0", "tier": "edge"}, "values": values}


def traced_stream(gap):
    values = []
    for t in times(gap):
        lvl = level()
        meta = {"trace_id": "%032x" % rng.getrandbits(128)}
        if rng.random() < 0.5:
            meta["span_id"] = "%016x" % rng.getrandbits(64)
        line = f"level={lvl} msg=\"job step\" job=reindex items={rng.randrange(0, 500)} took={rng.randrange(1, 3000)}ms"
        values.append([str(t), line, meta])
    return {"stream": {"namespace": "shop", "app": "indexer", "pod": "indexer-0", "tier": "batch"}, "values": values}


def main():
    streams = [
        logfmt_stream("frontend", "frontend-0", 20),
        logfmt_stream("frontend", "frontend-1", 20),
        logfmt_stream("checkout", "checkout-0", 25),
        logfmt_stream("checkout", "checkout-1", 25),
        logfmt_stream("payments", "payments-0", 40),
        logfmt_stream("inventory", "inventory-0", 60),
        json_stream("auth", "auth-0", 30),
        json_stream("auth", "auth-1", 30),
        nginx_stream(15),
        traced_stream(45),
    ]
    with open(OUT, "w") as f:
        f.write('{"streams": [\n')
        for i, s in enumerate(streams):
            f.write(' {"stream": %s, "values": [\n' % json.dumps(s["stream"]))
            f.write(",\n".join("  " + json.dumps(v, ensure_ascii=False) for v in s["values"]))
            f.write("\n ]}" + (",\n" if i + 1 < len(streams) else "\n"))
        f.write("]}\n")
    print(f"{OUT}: {len(streams)} streams, {sum(len(s['values']) for s in streams)} lines")


if __name__ == "__main__":
    main()
