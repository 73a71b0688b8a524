//! Reads over several tenants (`X-Scope-OrgID: a|b`) with
//! `querier.multi_tenant_queries_enabled`, through the real router over
//! lines pushed per tenant. Expected behaviour from Loki 3.7.6's
//! `pkg/querier/multi_tenant_querier.go` (every stream gets
//! `__tenant_id__`; a `__tenant_id__` matcher picks the tenants read and
//! metric queries can group by it) and `pkg/querier/http.go` /
//! dskit `tenant.TenantIDs` (ids split on `|`, sorted, deduplicated).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use balsa_api::testing::{MemBackend, app_state};
use balsa_api::{ApiConfig, AppState};
use balsa_push::LimitsConfig;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const S: i64 = 1_000_000_000;
const NOW: i64 = 1_796_472_000 * S;

fn state(multi: bool) -> AppState {
    let mut st = app_state(Arc::new(MemBackend::default()), LimitsConfig::default(), NOW);
    st.config = Arc::new(ApiConfig { auth_enabled: true, multi_tenant_queries_enabled: multi, ..(*st.config).clone() });
    st
}

async fn call(st: &AppState, req: Request<Body>) -> (StatusCode, String) {
    let resp = balsa_api::router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn push(st: &AppState, tenant: &str, line: &str, offset_s: i64) -> StatusCode {
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"shop"}},"values":[["{}","{line}"]]}}]}}"#,
        NOW - 60 * S + offset_s * S
    );
    let req = Request::post("/loki/api/v1/push")
        .header("X-Scope-OrgID", tenant)
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .unwrap();
    call(st, req).await.0
}

async fn query(st: &AppState, tenants: &str, q: &str) -> (StatusCode, Value) {
    let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let uri = format!("/loki/api/v1/query_range?query={enc}&start={}&end={}&step=60", NOW - 120 * S, NOW);
    let req = Request::get(uri).header("X-Scope-OrgID", tenants).body(Body::empty()).unwrap();
    let (status, body) = call(st, req).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// (tenant label, line) of every entry of a streams result, oldest first.
fn lines(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let t = s["stream"]["__tenant_id__"].as_str().unwrap_or("-").to_string();
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |e| (e[0].as_str().unwrap().to_string(), t.clone(), e[1].as_str().unwrap().to_string()))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, t, l)| (t, l)).collect()
}

async fn seeded(multi: bool) -> AppState {
    let st = state(multi);
    assert_eq!(push(&st, "team-a", "from a", 1).await, StatusCode::NO_CONTENT);
    assert_eq!(push(&st, "team-b", "from b", 2).await, StatusCode::NO_CONTENT);
    assert_eq!(push(&st, "team-c", "from c", 3).await, StatusCode::NO_CONTENT);
    st
}

#[tokio::test]
async fn streams_of_several_tenants_carry_tenant_id() {
    let st = seeded(true).await;
    let (status, v) = query(&st, "team-b|team-a|team-b", r#"{app="shop"}"#).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(lines(&v), [("team-a".into(), "from a".into()), ("team-b".into(), "from b".into())]);
    // The label set is the stream's own plus __tenant_id__.
    let first = &v["data"]["result"][0]["stream"];
    assert_eq!(first["app"], "shop");
    assert_eq!(first["service_name"], "shop");

    // A __tenant_id__ matcher picks the tenants read, = and =~ alike.
    let (_, v) = query(&st, "team-a|team-b", r#"{app="shop", __tenant_id__="team-b"}"#).await;
    assert_eq!(lines(&v), [("team-b".into(), "from b".into())]);
    let (_, v) = query(&st, "team-a|team-b|team-c", r#"{app="shop", __tenant_id__=~"team-(a|c)"}"#).await;
    assert_eq!(lines(&v), [("team-a".into(), "from a".into()), ("team-c".into(), "from c".into())]);

    // Metric queries can group by tenant.
    let (status, v) =
        query(&st, "team-a|team-c", r#"sum by (__tenant_id__) (count_over_time({app="shop"}[5m]))"#).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let mut tenants: Vec<&str> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["__tenant_id__"].as_str().unwrap())
        .collect();
    tenants.sort();
    assert_eq!(tenants, ["team-a", "team-c"]);

    // One tenant reads as before: no __tenant_id__.
    let (_, v) = query(&st, "team-a", r#"{app="shop"}"#).await;
    assert_eq!(lines(&v), [("-".into(), "from a".into())]);
}

#[tokio::test]
async fn several_tenants_are_refused_unless_enabled_and_never_on_push() {
    let st = seeded(false).await;
    // Loki's querier refuses with "multiple org IDs present", as a 500.
    let (status, v) = query(&st, "team-a|team-b", r#"{app="shop"}"#).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(v.to_string().contains("multiple org IDs present"), "{v}");
    let st = state(true);
    assert_eq!(push(&st, "team-a|team-b", "both", 1).await, StatusCode::BAD_REQUEST);
    let (status, _) = query(&st, "team-a|bad/id", r#"{app="shop"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
