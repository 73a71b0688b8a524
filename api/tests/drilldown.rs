//! Logs Drilldown's endpoints through the real router, over lines pushed
//! through `/loki/api/v1/push` (so `service_name` and `detected_level` are
//! added at ingest, as Loki does). Expected bodies follow Loki 3.7.6's
//! code: `pkg/querier/querier.go` (`DetectedLabels`,
//! `countLabelsAndCardinality`, `shouldRejectLabel`),
//! `pkg/querier/queryrange/detected_fields.go` (`parseDetectedFields`,
//! `parseDetectedFieldValues`), `pkg/loghttp/query.go`
//! (`ParseDetectedFieldsQuery`: defaults and error texts),
//! `pkg/logproto/logproto.pb.go` (JSON tags: `omitempty` everywhere but
//! `parsers`), `pkg/loki/config_handler.go` (`drilldown-limits`). Loki
//! lists fields and labels in Go map order (random); Balsa sorts them.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use balsa_api::testing::app_state;
use balsa_api::{ApiConfig, AppState};
use balsa_push::LimitsConfig;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const S: i64 = 1_000_000_000;
/// 2026-12-05T12:00:00Z, the test's clock.
const NOW: i64 = 1_796_472_000 * S;
/// The lines are at NOW-60s + 1..4 s.
const T0: i64 = NOW - 60 * S;

fn state(auth: bool) -> AppState {
    let mut st = app_state(Arc::new(balsa_api::testing::MemBackend::default()), LimitsConfig::default(), NOW);
    st.config = Arc::new(ApiConfig { auth_enabled: auth, version: "3.7.6-balsa".into(), ..(*st.config).clone() });
    st
}

async fn call(st: &AppState, req: Request<Body>) -> (StatusCode, String) {
    let resp = balsa_api::router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn get(st: &AppState, tenant: Option<&str>, path: &str, params: &[(&str, &str)]) -> (StatusCode, String) {
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    let mut req = Request::get(format!("/loki/api/v1/{path}?{}", q.join("&")));
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    call(st, req.body(Body::empty()).unwrap()).await
}

async fn push(st: &AppState, tenant: &str, body: Value) {
    let req = Request::post("/loki/api/v1/push")
        .header("content-type", "application/json")
        .header("X-Scope-OrgID", tenant)
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, body) = call(st, req).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

fn ts(offset_s: i64) -> String {
    (T0 + offset_s * S).to_string()
}

/// Tenant `a`: a logfmt stream and a JSON stream; tenant `b`: a secret.
async fn pushed() -> AppState {
    let st = state(true);
    push(
        &st,
        "a",
        json!({"streams": [
            {"stream": {"app": "api", "cluster": "c1", "env": "prod"}, "values": [
                [ts(1), "level=info msg=\"request done\" status=200 duration=15ms path=/users"],
                [ts(2), "level=error msg=\"request failed\" status=500 duration=1.5s path=/orders"],
            ]},
            {"stream": {"app": "web", "env": "prod", "pod": "web-1"}, "values": [
                [ts(3), r#"{"level":"warn","msg":"slow","latency_ms":250,"user":{"id":"u1"}}"#],
                [ts(4), r#"{"level":"info","msg":"ok","latency_ms":12.5,"user":{"id":"u2"}}"#],
            ]},
        ]}),
    )
    .await;
    push(
        &st,
        "b",
        json!({"streams": [{"stream": {"app": "vault"}, "values": [[ts(1), "password=hunter2 user=bob"]]}]}),
    )
    .await;
    st
}

/// The range around the pushed lines in every format Loki accepts.
fn ranges() -> Vec<(String, String)> {
    let iso = |ns: i64| chrono::DateTime::from_timestamp_nanos(ns).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let nano = |ns: i64| chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let (start, end) = (NOW - 15 * 60 * S, NOW);
    vec![
        (iso(start), iso(end)), // Drilldown: JavaScript's toISOString()
        (nano(start), nano(end)),
        (start.to_string(), end.to_string()),
        (format!("{}.000", start / S), format!("{}.5", end / S)),
        ((start / S).to_string(), (end / S).to_string()),
    ]
}

/// The `label` of every field of a `detected_fields` answer.
fn field_names(body: &str) -> Vec<String> {
    let v = parse(body);
    v["fields"].as_array().unwrap().iter().map(|f| f["label"].as_str().unwrap().to_string()).collect()
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

const DRILLDOWN_QUERY: &str = r#"{env="prod"}      | json | logfmt | drop __error__, __error_details__"#;

#[tokio::test]
async fn detected_labels_in_lokis_shape() {
    let st = pushed().await;
    // Every label of tenant a's streams: env and pod have one value and are
    // kept (only ID-only labels are dropped); cluster is static.
    let want = json!({"detectedLabels": [
        {"label": "app", "cardinality": 2},
        {"label": "cluster", "cardinality": 1},
        {"label": "env", "cardinality": 1},
        {"label": "pod", "cardinality": 1},
        {"label": "service_name", "cardinality": 2},
    ]});
    for (start, end) in ranges() {
        // Drilldown sends an empty selector as an empty `query`.
        for q in ["", "{}", r#"{env="prod"}"#] {
            let params = [("end", end.as_str()), ("query", q), ("start", start.as_str())];
            let (status, body) = get(&st, Some("a"), "detected_labels", &params).await;
            if q == "{}" {
                // Loki's ParseMatchers refuses an empty selector too.
                assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{start} {q}: {body}");
            assert_eq!(parse(&body), want, "{start} {q}");
        }
    }
    let (_, body) = get(&st, Some("a"), "detected_labels", &[("query", r#"{app="web"}"#)]).await;
    assert_eq!(
        parse(&body),
        json!({"detectedLabels": [
            {"label": "app", "cardinality": 1},
            {"label": "env", "cardinality": 1},
            {"label": "pod", "cardinality": 1},
            {"label": "service_name", "cardinality": 1},
        ]})
    );
    // Nothing selected: Loki's omitempty leaves an empty object.
    let (status, body) = get(&st, Some("a"), "detected_labels", &[("query", r#"{app="none"}"#)]).await;
    assert_eq!((status, body.trim()), (StatusCode::OK, "{}"));
    // Tenant isolation.
    let (_, body) = get(&st, Some("b"), "detected_labels", &[]).await;
    assert_eq!(
        parse(&body),
        json!({"detectedLabels": [{"label": "app", "cardinality": 1}, {"label": "service_name", "cardinality": 1}]})
    );
}

#[tokio::test]
async fn detected_fields_in_lokis_shape() {
    let st = pushed().await;
    // Streams are read in label order ({app="api"...} first), each newest
    // line first, so the oldest JSON line (latency_ms=250) sets that type.
    let want = json!({"fields": [
        {"label": "detected_level", "type": "string", "cardinality": 3, "parsers": null},
        {"label": "duration", "type": "duration", "cardinality": 2, "parsers": ["logfmt"]},
        {"label": "latency_ms", "type": "int", "cardinality": 2, "parsers": ["json"], "jsonPath": ["latency_ms"]},
        {"label": "level", "type": "string", "cardinality": 3, "parsers": ["logfmt", "json"], "jsonPath": ["level"]},
        {"label": "msg", "type": "string", "cardinality": 4, "parsers": ["logfmt", "json"], "jsonPath": ["msg"]},
        {"label": "path", "type": "string", "cardinality": 2, "parsers": ["logfmt"]},
        {"label": "status", "type": "int", "cardinality": 2, "parsers": ["logfmt"]},
        {"label": "user_id", "type": "string", "cardinality": 2, "parsers": ["json"], "jsonPath": ["user", "id"]},
    ], "limit": 1000});
    for (start, end) in ranges() {
        for q in [DRILLDOWN_QUERY, r#"{service_name=~"api|web"}"#] {
            let params = [("end", end.as_str()), ("query", q), ("start", start.as_str())];
            let (status, body) = get(&st, Some("a"), "detected_fields", &params).await;
            assert_eq!(status, StatusCode::OK, "{start} {q}: {body}");
            assert_eq!(parse(&body), want, "{start} {q}");
        }
    }
    // Loki's exact bytes for one field: key order label, type, cardinality,
    // parsers, jsonPath; then limit; a newline.
    let (_, body) = get(&st, Some("a"), "detected_fields", &[("query", r#"{app="web"}"#), ("limit", "1")]).await;
    assert_eq!(
        body,
        "{\"fields\":[{\"label\":\"detected_level\",\"type\":\"string\",\"cardinality\":2,\"parsers\":null}],\"limit\":1}\n"
    );
    // line_limit: the newest line only (latency_ms=12.5, a float).
    let (_, body) =
        get(&st, Some("a"), "detected_fields", &[("query", DRILLDOWN_QUERY), ("line_limit", "1"), ("limit", "50")])
            .await;
    assert_eq!(
        parse(&body),
        json!({"fields": [
            {"label": "detected_level", "type": "string", "cardinality": 1, "parsers": null},
            {"label": "latency_ms", "type": "float", "cardinality": 1, "parsers": ["json"], "jsonPath": ["latency_ms"]},
            {"label": "level", "type": "string", "cardinality": 1, "parsers": ["json"], "jsonPath": ["level"]},
            {"label": "msg", "type": "string", "cardinality": 1, "parsers": ["json"], "jsonPath": ["msg"]},
            {"label": "user_id", "type": "string", "cardinality": 1, "parsers": ["json"], "jsonPath": ["user", "id"]},
        ], "limit": 50})
    );
    // A line filter narrows the sample.
    let (_, body) = get(&st, Some("a"), "detected_fields", &[("query", r#"{env="prod"} |= "failed""#)]).await;
    let labels = field_names(&body);
    assert_eq!(labels, ["detected_level", "duration", "level", "msg", "path", "status"]);
    // Nothing found: `{}`.
    let (status, body) = get(&st, Some("a"), "detected_fields", &[("query", r#"{app="none"}"#)]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "{}\n"));
    // Tenant isolation: b sees its own fields only, a never sees b's.
    let (_, body) = get(&st, Some("b"), "detected_fields", &[("query", r#"{app=~".+"}"#)]).await;
    let labels = field_names(&body);
    assert_eq!(labels, ["detected_level", "password", "user"]);
    let (_, body) = get(&st, Some("a"), "detected_fields", &[("query", r#"{app=~".+"}"#)]).await;
    assert!(!body.contains("password"), "{body}");
}

#[tokio::test]
async fn detected_field_values_in_lokis_shape() {
    let st = pushed().await;
    for (start, end) in ranges() {
        let params = [("end", end.as_str()), ("query", DRILLDOWN_QUERY), ("start", start.as_str())];
        let (status, body) = get(&st, Some("a"), "detected_field/level/values", &params).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, "{\"limit\":1000,\"values\":[\"error\",\"info\",\"warn\"]}\n");
    }
    let values = |body: &str| parse(body)["values"].clone();
    // Structured metadata.
    let (_, body) = get(&st, Some("a"), "detected_field/detected_level/values", &[("query", DRILLDOWN_QUERY)]).await;
    assert_eq!(values(&body), json!(["error", "info", "warn"]));
    // A JSON field under its flattened name.
    let (_, body) = get(&st, Some("a"), "detected_field/user_id/values", &[("query", r#"{app="web"}"#)]).await;
    assert_eq!(values(&body), json!(["u1", "u2"]));
    // `limit` bounds the values (entries are read until it is reached).
    let (_, body) =
        get(&st, Some("a"), "detected_field/msg/values", &[("query", r#"{app="api"}"#), ("limit", "1")]).await;
    assert_eq!(parse(&body)["limit"], 1);
    assert_eq!(values(&body).as_array().unwrap().len(), 1);
    // Unknown field: `{}`.
    let (status, body) = get(&st, Some("a"), "detected_field/nope/values", &[("query", DRILLDOWN_QUERY)]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "{}\n"));
    // Tenant isolation.
    let (_, body) = get(&st, Some("a"), "detected_field/password/values", &[("query", r#"{app=~".+"}"#)]).await;
    assert_eq!(body, "{}\n");
    let (_, body) = get(&st, Some("b"), "detected_field/password/values", &[("query", r#"{app=~".+"}"#)]).await;
    assert_eq!(values(&body), json!(["hunter2"]));
}

/// A request's parameters.
type Params<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn bad_parameters_are_lokis_400s() {
    let st = pushed().await;
    let q = DRILLDOWN_QUERY;
    let table: &[(&str, Params, &str)] = &[
        (
            "detected_fields",
            &[("query", q), ("start", "noon")],
            r#"could not parse 'start' parameter: strconv.ParseInt: parsing "noon": invalid syntax"#,
        ),
        (
            "detected_fields",
            &[("query", q), ("start", "1796471000"), ("end", "1796470000")],
            "end timestamp must not be before or equal to start time",
        ),
        ("detected_fields", &[("query", q), ("line_limit", "0")], "limit must be a positive value"),
        ("detected_fields", &[("query", q), ("line_limit", "ten")], r#"strconv.Atoi: parsing "ten": invalid syntax"#),
        ("detected_fields", &[("query", q), ("limit", "-5")], "limit must be a positive value"),
        ("detected_fields", &[("query", q), ("field_limit", "0")], "limit must be a positive value"),
        (
            "detected_fields",
            &[("query", q), ("step", "0")],
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "detected_fields",
            &[("query", q), ("step", "0.0001")],
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        ("detected_fields", &[("query", q), ("step", "soon")], r#"cannot parse "soon" to a valid duration"#),
        (
            "detected_fields",
            &[("query", q), ("start", "1796400000"), ("step", "1")],
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
        ),
        (
            "detected_fields",
            &[("query", r#"sum(count_over_time({env="prod"}[1m]))"#)],
            "only log selector is supported",
        ),
        (
            "detected_fields",
            &[("query", q), ("line_limit", "5001")],
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)",
        ),
        ("detected_field/level/values", &[("query", q), ("limit", "0")], "limit must be a positive value"),
        (
            "detected_labels",
            &[("start", "noon")],
            r#"could not parse 'start' parameter: strconv.ParseInt: parsing "noon": invalid syntax"#,
        ),
        (
            "detected_labels",
            &[("start", "1796471000"), ("end", "1796470000")],
            "end timestamp must not be before or equal to start time",
        ),
        ("detected_labels", &[("query", r#"{env="prod"} | json"#)], "only label matchers are supported"),
    ];
    for (path, params, want) in table {
        let (status, body) = get(&st, Some("a"), path, params).await;
        assert_eq!((status, body.trim()), (StatusCode::BAD_REQUEST, *want), "{path} {params:?}");
    }
    // An empty or broken query is LogQL's parse error.
    for bad in ["", "{env="] {
        let (status, body) = get(&st, Some("a"), "detected_fields", &[("query", bad)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
        assert!(body.starts_with("parse error"), "{bad:?}: {body}");
    }
    // max_query_length (721h by default).
    let (status, body) =
        get(&st, Some("a"), "detected_labels", &[("start", "1700000000"), ("end", "1796472000")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("the query time range exceeds the limit (query length: "), "{body}");
    // Without a tenant.
    for path in ["detected_labels", "detected_fields", "detected_field/level/values", "drilldown-limits"] {
        let (status, _) = get(&st, None, path, &[("query", q)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn drilldown_limits_answer_with_auth_disabled() {
    // Loki 3.7.6 answers 401 here without X-Scope-OrgID even with auth
    // disabled (so single-tenant Drilldown calls it unsupported); Balsa
    // answers for the single tenant.
    let st = state(false);
    let (status, body) = get(&st, None, "drilldown-limits", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = parse(&body);
    // Loki's default tenant_limits_allow_publish list, with Loki's defaults.
    let want = json!({
        "limits": {
            "discover_log_levels": true,
            "discover_service_name": [
                "service", "app", "application", "app_name", "name", "app_kubernetes_io_name", "container",
                "container_name", "k8s_container_name", "component", "workload", "job", "k8s_job_name"
            ],
            "log_level_fields": [
                "level", "LEVEL", "Level", "log.level", "severity", "SEVERITY", "Severity", "SeverityText", "lvl",
                "LVL", "Lvl", "severity_text", "Severity_Text", "SEVERITY_TEXT"
            ],
            "max_entries_limit_per_query": 5000,
            "max_line_size_truncate": false,
            "max_query_bytes_read": "0B",
            "max_query_length": "30d1h",
            "max_query_lookback": "0s",
            "max_query_range": "0s",
            "max_query_series": 500,
            "metric_aggregation_enabled": false,
            "otlp_config": {"resource_attributes": {"attributes_config": [{"action": "index_label", "attributes": [
                "service.name", "service.namespace", "service.instance.id", "deployment.environment",
                "deployment.environment.name", "cloud.region", "cloud.availability_zone", "k8s.cluster.name",
                "k8s.namespace.name", "k8s.pod.name", "k8s.container.name", "container.name",
                "k8s.replicaset.name", "k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name",
                "k8s.cronjob.name", "k8s.job.name"
            ]}]}},
            "pattern_persistence_enabled": false,
            "query_timeout": "1m",
            "retention_period": "0s",
            "volume_enabled": true,
            "volume_max_series": 1000
        },
        "pattern_ingester_enabled": false,
        "version": "3.7.6-balsa"
    });
    assert_eq!(v, want);
    // Go's encoder: keys in struct order at the top, sorted in the map.
    assert!(body.starts_with("{\"limits\":{\"discover_log_levels\":true,"), "{body}");
    assert!(body.ends_with("\"pattern_ingester_enabled\":false,\"version\":\"3.7.6-balsa\"}\n"), "{body}");
    // With auth on, the tenant's own limits.
    let st = state(true);
    let (status, body) = get(&st, Some("a"), "drilldown-limits", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(parse(&body)["limits"]["max_query_series"], 500);
}

#[test]
fn published_limits_follow_the_tenant() {
    use balsa_push::otlp::{Action, AttributesConfig, OtlpConfig, ResourceAttributesConfig, config::AttrRegex};
    let mut l = LimitsConfig::default();
    l.otlp_config = OtlpConfig {
        resource_attributes: ResourceAttributesConfig {
            ignore_defaults: true,
            attributes_config: vec![AttributesConfig {
                action: Action::IndexLabel,
                attributes: vec!["k8s.pod.name".into()],
                regex: None,
            }],
        },
        log_attributes: vec![AttributesConfig {
            action: Action::Drop,
            attributes: Vec::new(),
            regex: Some(AttrRegex::new("http\\..+").unwrap()),
        }],
        ..Default::default()
    };
    l.retention_stream = vec![balsa_push::StreamRetention {
        selector: r#"{env="dev"}"#.into(),
        priority: 1,
        period: balsa_model::units::Duration(std::time::Duration::from_secs(86_400)),
    }];
    let m = balsa_api::drilldown::published_limits(&l);
    // Loki's JSON of push.OTLPConfig (ApplyGlobalOTLPConfig skipped under
    // ignore_defaults) and of []StreamRetention (model.Duration strings).
    assert_eq!(
        m["otlp_config"],
        json!({
            "resource_attributes": {
                "ignore_defaults": true,
                "attributes_config": [{"action": "index_label", "attributes": ["k8s.pod.name"]}]
            },
            "log_attributes": [{"action": "drop", "regex": "http\\..+"}]
        })
    );
    assert_eq!(m["retention_stream"], json!([{"period": "1d", "priority": 1, "selector": "{env=\"dev\"}"}]));
}
