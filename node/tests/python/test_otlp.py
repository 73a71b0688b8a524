"""The OpenTelemetry Python SDK's OTLP/HTTP log exporter pushes to balsa's
/otlp/v1/logs through Python's logging, and query_range gives back what Loki
3.7 would: service_name as a label, the other attributes, the scope, the
severity and the trace context as structured metadata, and detected_level."""

import gzip
import json
import logging
import time

import pytest
import requests

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def query(url, q, start_ns):
    """(labels, line, structured metadata) of each entry, oldest first."""
    r = requests.get(url + "/loki/api/v1/query_range",
                     params={"query": q, "start": str(start_ns), "limit": "1000", "direction": "forward"},
                     headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success"
    out = []
    for s in body["data"]["result"]:
        for v in s["values"]:
            meta = v[2].get("structuredMetadata", {}) if len(v) > 2 else {}
            out.append((int(v[0]), s["stream"], v[1], meta))
    return [(labels, line, meta) for _, labels, line, meta in sorted(out, key=lambda e: e[0])]


@pytest.fixture
def otel_logger(balsa):
    resource = Resource.create({"service.name": "otel-checkout", "deployment.environment": "test",
                                "host.name": "build-box"})
    provider = LoggerProvider(resource=resource)
    exporter = OTLPLogExporter(endpoint=balsa + "/otlp/v1/logs", timeout=10)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger("checkout.payments")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger
    logger.removeHandler(handler)
    provider.shutdown()


# LoggingHandler moved to opentelemetry-instrumentation-logging; the SDK's still works.
@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")
def test_python_sdk_logs_come_back_with_loki_s_labels_and_metadata(balsa, otel_logger):
    start = time.time_ns() - 1_000_000_000
    tracer = TracerProvider().get_tracer("pytest")
    otel_logger.info("order placed", extra={"order.id": "o-17"})
    with tracer.start_as_current_span("charge") as span:
        ctx = span.get_span_context()
        otel_logger.warning("card declined, retrying")
    otel_logger.error("payment failed")

    got = query(balsa, '{service_name="otel-checkout"}', start)
    assert [line for _, line, _ in got] == ["order placed", "card declined, retrying", "payment failed"]

    # Loki's default index labels among the resource attributes: service.name,
    # deployment.environment and the SDK's own service.instance.id, dots as underscores.
    for labels, _, _ in got:
        labels = dict(labels)
        assert len(labels.pop("service_instance_id")) == 36
        assert labels == {"service_name": "otel-checkout", "deployment_environment": "test"}

    info, warn, err = (meta for _, _, meta in got)
    # Other resource attributes, scope and log attributes: structured metadata.
    assert info["host_name"] == "build-box"
    assert info["telemetry_sdk_language"] == "python"
    assert info["scope_name"] == "checkout.payments"
    assert info["order_id"] == "o-17"
    assert info["code_function_name"] == "test_python_sdk_logs_come_back_with_loki_s_labels_and_metadata"
    # Severity as Loki stores it, and detected_level from it.
    assert (info["severity_text"], info["severity_number"], info["detected_level"]) == ("INFO", "9", "info")
    assert (warn["severity_text"], warn["severity_number"], warn["detected_level"]) == ("WARN", "13", "warn")
    assert (err["severity_text"], err["severity_number"], err["detected_level"]) == ("ERROR", "17", "error")
    # Trace context only on the line logged inside the span, as lowercase hex.
    assert warn["trace_id"] == format(ctx.trace_id, "032x")
    assert warn["span_id"] == format(ctx.span_id, "016x")
    assert warn["flags"] == str(int(ctx.trace_flags))  # W3C trace flags, sampled at least
    assert int(warn["flags"]) & 1 == 1
    assert "trace_id" not in info and "span_id" not in err

    # The metadata can be filtered on like any other.
    errors = query(balsa, '{service_name="otel-checkout"} | detected_level="error"', start)
    assert [line for _, line, _ in errors] == ["payment failed"]
    traced = query(balsa, '{deployment_environment="test"} | trace_id="%s"' % format(ctx.trace_id, "032x"), start)
    assert [line for _, line, _ in traced] == ["card declined, retrying"]


def test_bad_bodies_get_otlp_errors(balsa):
    r = requests.post(balsa + "/otlp/v1/logs", data=b"\xff\xff\xff",
                      headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400
    # A protobuf google.rpc.Status: field 2, the message.
    assert r.content[0] == 0x12 and b"invalid OTLP protobuf body" in r.content
    r = requests.post(balsa + "/otlp/v1/logs", data=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and b"content type: text/plain is not supported" in r.content
    # An empty request is a success with nothing to write.
    r = requests.post(balsa + "/otlp/v1/logs", json={"resourceLogs": []})
    assert r.status_code == 204


def test_otlp_json_with_gzip_round_trips(balsa):
    """OTLP/JSON (ids in hex, int64 as strings), gzip-encoded, as curl or a
    collector configured for JSON would send it."""
    import gzip
    import json

    now = time.time_ns()
    body = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otel-json"}},
                                    {"key": "k8s.namespace.name", "value": {"stringValue": "shop"}},
                                    {"key": "process.pid", "value": {"intValue": "4242"}}]},
        "scopeLogs": [{"scope": {"name": "curl", "version": "8.0"}, "logRecords": [
            {"timeUnixNano": str(now), "severityNumber": 17, "severityText": "Error",
             "body": {"stringValue": "json line"},
             "attributes": [{"key": "http.status_code", "value": {"intValue": 502}}],
             "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}]}]}]}
    r = requests.post(balsa + "/otlp/v1/logs", data=gzip.compress(json.dumps(body).encode()),
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 204, r.content
    got = query(balsa, '{service_name="otel-json"}', now - 1_000_000_000)
    assert len(got) == 1
    labels, line, meta = got[0]
    assert labels == {"service_name": "otel-json", "k8s_namespace_name": "shop"}
    assert line == "json line"
    assert meta["process_pid"] == "4242" and meta["http_status_code"] == "502"
    assert (meta["scope_name"], meta["scope_version"]) == ("curl", "8.0")
    assert (meta["trace_id"], meta["span_id"]) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    # severity_text "Error" is a level field: detected_level is its normalized form.
    assert (meta["severity_text"], meta["severity_number"], meta["detected_level"]) == ("Error", "17", "error")
