"""Real client libraries push to balsa exactly as they push to Loki."""

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
