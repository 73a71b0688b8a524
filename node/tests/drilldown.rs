//! Logs Drilldown's requests against a real `balsa` (auth off, as a
//! single-tenant Grafana uses it): `drilldown-limits` without
//! `X-Scope-OrgID` (Loki 3.7 answers 401 there), then the Labels and
//! Fields tabs with Drilldown's ISO times and its query, over lines
//! acknowledged through Raft a moment before.

mod common;

use common::reqwest::blocking_client as client;
use common::{Balsa, enc, now_ns};
use serde_json::{Value, json};

fn get(b: &Balsa, path: &str, params: &[(&str, &str)]) -> Value {
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    let r = client().get(b.url(&format!("/loki/api/v1/{path}?{}", q.join("&")))).send().unwrap();
    assert_eq!(r.status(), 200, "{path}: {}", r.text());
    r.json()
}

/// JavaScript's `Date.toISOString()` (`2026-12-05T07:20:00.000Z`).
fn iso(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, milli) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

#[test]
fn iso_times_as_javascript_prints_them() {
    assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso(1_796_455_200_123_456_789), "2026-12-05T07:20:00.123Z");
    assert_eq!(iso(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
}

#[test]
fn drilldown_session_on_a_single_node() {
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &[]);
    let now = now_ns();
    let ts = |back_s: i64| (now - back_s * 1_000_000_000).to_string();
    let body = json!({"streams": [
        {"stream": {"app": "checkout", "env": "prod"}, "values": [
            [ts(30), "level=info msg=\"paid\" amount=12.5 took=120ms"],
            [ts(20), "level=error msg=\"card declined\" amount=99 took=1.2s"],
        ]},
        {"stream": {"app": "checkout", "env": "dev"}, "values": [
            [ts(10), r#"{"level":"debug","cart":{"items":3}}"#],
        ]},
    ]});
    let r = client()
        .post(b.url("/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text());

    // Config: no tenant header, auth off.
    let limits = get(&b, "drilldown-limits", &[]);
    assert_eq!(limits["pattern_ingester_enabled"], false);
    assert_eq!(limits["limits"]["volume_enabled"], true);
    assert_eq!(limits["limits"]["discover_log_levels"], true);
    let build = get(&b, "status/buildinfo", &[]);
    assert_eq!(limits["version"], build["version"]);

    let (start, end) = (iso(now - 15 * 60 * 1_000_000_000), iso(now + 1_000_000_000));
    // Labels tab: an empty selector comes as an empty query.
    let labels = get(&b, "detected_labels", &[("end", &end), ("query", ""), ("start", &start)]);
    assert_eq!(
        labels,
        json!({"detectedLabels": [
            {"label": "app", "cardinality": 1},
            {"label": "env", "cardinality": 2},
            {"label": "service_name", "cardinality": 1},
        ]})
    );

    // Fields tab with Drilldown's expression (empty variables leave spaces).
    let q = r#"{service_name="checkout"}      | json | logfmt | drop __error__, __error_details__"#;
    let fields = get(&b, "detected_fields", &[("end", &end), ("query", q), ("start", &start)]);
    assert_eq!(
        fields,
        json!({"fields": [
            {"label": "amount", "type": "float", "cardinality": 2, "parsers": ["logfmt"]},
            {"label": "cart_items", "type": "int", "cardinality": 1, "parsers": ["json"], "jsonPath": ["cart", "items"]},
            {"label": "detected_level", "type": "string", "cardinality": 3, "parsers": null},
            {"label": "level", "type": "string", "cardinality": 3, "parsers": ["json", "logfmt"], "jsonPath": ["level"]},
            {"label": "msg", "type": "string", "cardinality": 2, "parsers": ["logfmt"]},
            {"label": "took", "type": "duration", "cardinality": 2, "parsers": ["logfmt"]},
        ], "limit": 1000})
    );

    // Level filter values, with nanosecond times as the data source sends them.
    let values = get(
        &b,
        "detected_field/level/values",
        &[("end", &ts(-1)), ("query", q), ("start", &ts(900)), ("limit", "1000")],
    );
    assert_eq!(values, json!({"limit": 1000, "values": ["debug", "error", "info"]}));
}
