"""Real client libraries push to balsa exactly as they push to Loki."""

import json
import logging
import time

import logging_loki
import requests


def query_lines(url, query, start_ns):
    r = requests.get(url + "/loki/api/v1/query_range",
                     params={"query": query, "start": str(start_ns), "limit": "1000", "direction": "forward"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success"
    entries = [(int(v[0]), s["stream"], v[1]) for s in body["data"]["result"] for v in s["values"]]
    return [(stream, line) for _, stream, line in sorted(entries, key=lambda e: e[0])]


def test_python_logging_loki_handler_lines_come_back(balsa):
    start = time.time_ns() - 1_000_000_000
    handler = logging_loki.LokiHandler(url=balsa + "/loki/api/v1/push", tags={"application": "pytest-app"},
                                       version="1")
    logger = logging.getLogger("balsa-python-test")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for i in range(5):
            logger.warning("message number %d", i, extra={"tags": {"component": "worker"}})
        logger.info("plain info line")
    finally:
        logger.removeHandler(handler)
        handler.close()

    lines = query_lines(balsa, '{application="pytest-app"}', start)
    assert [l for _, l in lines] == [f"message number {i}" for i in range(5)] + ["plain info line"]
    stream = lines[0][0]
    # The handler's own tags, plus service_name discovered from `application`.
    assert stream["application"] == "pytest-app"
    assert stream["severity"] == "warning"
    assert stream["logger"] == "balsa-python-test"
    assert stream["component"] == "worker"
    assert stream["service_name"] == "pytest-app"

    # A line filter over what the handler pushed.
    filtered = query_lines(balsa, '{application="pytest-app"} |= "number 3"', start)
    assert [l for _, l in filtered] == ["message number 3"]


def test_loki_logger_handler_batches_gzip_json_with_structured_metadata(balsa):
    """A second real shipper, unlike python-logging-loki in every respect that
    matters to a server: `loki-logger-handler` batches records on a background
    thread, gzips the body, writes each line as JSON, sends structured
    metadata (the third element of a value), and takes labels from records."""
    from loki_logger_handler.loki_logger_handler import LokiLoggerHandler

    start = time.time_ns() - 1_000_000_000
    handler = LokiLoggerHandler(
        url=balsa + "/loki/api/v1/push", labels={"application": "batch-app"}, label_keys={"env"},
        timeout=1, compressed=True, enable_structured_loki_metadata=True,
        loki_metadata={"team": "core"}, loki_metadata_keys=["request_id"], enable_self_errors=True)
    logger = logging.getLogger("balsa-batch-test")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for i in range(20):
            logger.error("batched %d", i, extra={"env": "prod", "request_id": f"r{i}"})
        # One flush of the background thread carries all twenty.
        deadline = time.time() + 15
        while True:
            lines = query_lines(balsa, '{application="batch-app"}', start)
            if len(lines) >= 20 or time.time() > deadline:
                break
            time.sleep(0.3)
    finally:
        logger.removeHandler(handler)

    assert len(lines) == 20, lines
    messages = [json.loads(line)["message"] for _, line in lines]
    assert messages == [f"batched {i}" for i in range(20)]
    stream = lines[0][0]
    assert stream["application"] == "batch-app"
    assert stream["env"] == "prod"
    assert stream["service_name"] == "batch-app"
    # detected_level comes from the JSON line's `level` field at ingest.
    assert stream["detected_level"] == "error"
    # Structured metadata: filterable as labels, and returned in its own slot
    # with categorize-labels.
    only_r7 = query_lines(balsa, '{application="batch-app"} | request_id="r7"', start)
    assert [json.loads(l)["message"] for _, l in only_r7] == ["batched 7"]
    r = requests.get(balsa + "/loki/api/v1/query_range", headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
                     params={"query": '{application="batch-app"} | request_id="r3"', "start": str(start),
                             "limit": "10"})
    assert r.status_code == 200, r.text
    value = r.json()["data"]["result"][0]["values"][0]
    # detected_level is structured metadata too, added at ingest as Loki 3 does.
    assert value[2]["structuredMetadata"] == {"team": "core", "request_id": "r3", "detected_level": "error"}


def test_explore_logs_volume_splits_by_detected_level(balsa):
    """Explore's logs-volume histogram (grafana.md: datasource.ts
    getSupplementaryQuery, Source=logvolhist) and Drilldown's level graphs
    group by detected_level, which ingest adds from logfmt `level=` and JSON
    `"level"`; lines without a level are `unknown`."""
    now = time.time_ns()
    lines = [("level=error msg=a", "error"), ('{"level":"warn","msg":"b"}', "warn"),
             ("level=error msg=c", "error"), ("plain words", "unknown"), ("level=info msg=d", "info")]
    values = [[str(now - (len(lines) - i) * 1_000_000_000), line] for i, (line, _) in enumerate(lines)]
    r = requests.post(balsa + "/loki/api/v1/push", json={"streams": [{"stream": {"app": "volume"}, "values": values}]})
    assert r.status_code == 204, r.text
    expected = {"error": 2, "warn": 1, "unknown": 1, "info": 1}
    for query in ['sum by (level, detected_level) (count_over_time({app="volume"} | drop __error__[1m]))',
                  'sum by (detected_level) (count_over_time({app="volume"} [1m]))']:
        r = requests.get(balsa + "/loki/api/v1/query_range", params={
            "query": query, "start": str(now - 60 * 10**9), "end": str(now + 60 * 10**9), "step": "60"})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["resultType"] == "matrix"
        got = {}
        for series in data["result"]:
            assert set(series["metric"]) == {"detected_level"}, series["metric"]
            # step == range: each line falls in exactly one window.
            got[series["metric"]["detected_level"]] = sum(int(v[1]) for v in series["values"])
        assert got == expected, (query, got)
