//! Per-tenant limits through the HTTP handlers: push validation, the
//! ingestion rate limit and the query limits read each tenant's overrides.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use balsa_api::testing::app_state;
use balsa_api::{ApiConfig, AppState, Backend, BackendError, PushOutcome};
use balsa_model::{PushRequest, StreamReader, TenantId};
use balsa_push::{LimitsConfig, Overrides, Validator, parse_runtime_config};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use tower::ServiceExt;

const NOW_NS: i64 = 1_700_000_000_000_000_000;

/// Accepts every push and stores nothing.
struct Sink;

impl Backend for Sink {
    fn push(&self, _tenant: TenantId, _req: PushRequest) -> BoxFuture<'_, Result<PushOutcome, BackendError>> {
        Box::pin(async { Ok(PushOutcome::default()) })
    }
    fn readers(&self) -> BoxFuture<'_, Result<Vec<Arc<dyn StreamReader>>, BackendError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

const RUNTIME: &str = r#"
overrides:
  small:
    max_entries_limit_per_query: 5
    max_query_length: 1h
    max_line_size: 10
  big:
    max_entries_limit_per_query: 10000
  slow:
    ingestion_rate_mb: 0.0001
    ingestion_burst_size_mb: 0.0001
"#;

fn state() -> (AppState, Arc<Overrides>) {
    let overrides = Arc::new(Overrides::new(LimitsConfig::default()));
    let docs = [("runtime.yaml".to_string(), RUNTIME.to_string())];
    overrides.set(parse_runtime_config(&docs, overrides.defaults()).unwrap());
    let mut st = app_state(Arc::new(Sink), LimitsConfig::default(), NOW_NS);
    st.config = Arc::new(ApiConfig { auth_enabled: true, ..(*st.config).clone() });
    st.validator = Arc::new(Validator::with_overrides(Arc::clone(&overrides)));
    (st, overrides)
}

async fn call(st: &AppState, req: Request<Body>) -> (StatusCode, String) {
    let resp = balsa_api::router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).trim().to_string())
}

async fn query(st: &AppState, tenant: &str, extra: &str) -> (StatusCode, String) {
    let uri = format!("/loki/api/v1/query_range?query=%7Bapp%3D%22a%22%7D&end={NOW_NS}{extra}");
    call(st, Request::get(uri).header("X-Scope-OrgID", tenant).body(Body::empty()).unwrap()).await
}

async fn push(st: &AppState, tenant: &str, line: &str) -> (StatusCode, String) {
    let body = serde_json::json!({"streams": [{"stream": {"app": "a"}, "values": [[NOW_NS.to_string(), line]]}]});
    let req = Request::post("/loki/api/v1/push")
        .header("X-Scope-OrgID", tenant)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    call(st, req).await
}

fn too_many(limit: usize, max: usize) -> String {
    format!("max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})")
}

#[tokio::test]
async fn query_limits_are_per_tenant() {
    let (st, _) = state();
    assert_eq!(query(&st, "small", "&limit=10").await, (StatusCode::BAD_REQUEST, too_many(10, 5)));
    assert_eq!(query(&st, "small", "&limit=5").await.0, StatusCode::OK);
    assert_eq!(query(&st, "other", "&limit=10").await.0, StatusCode::OK);
    assert_eq!(query(&st, "other", "&limit=6000").await, (StatusCode::BAD_REQUEST, too_many(6000, 5000)));
    assert_eq!(query(&st, "big", "&limit=6000").await.0, StatusCode::OK);
    // max_query_length 1h for `small` only.
    let (status, body) = query(&st, "small", "&limit=5&since=2h").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("the query time range exceeds the limit"), "{body}");
    assert!(body.contains("limit: 1h"), "{body}");
    assert_eq!(query(&st, "other", "&limit=5&since=2h").await.0, StatusCode::OK);
}

#[tokio::test]
async fn push_limits_are_per_tenant_and_follow_a_reload() {
    let (st, overrides) = state();
    // max_line_size 10 for `small`.
    let (status, body) = push(&st, "small", "a line longer than ten bytes").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Max entry size '10' bytes exceeded"), "{body}");
    assert_eq!(push(&st, "other", "a line longer than ten bytes").await.0, StatusCode::NO_CONTENT);
    // `slow` has a burst of about 104 bytes.
    let long = "x".repeat(200);
    let (status, body) = push(&st, "slow", &long).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("for user slow"), "{body}");
    assert_eq!(push(&st, "other", &long).await.0, StatusCode::NO_CONTENT);
    // Dropping the overrides brings the defaults back for the next request.
    overrides.set(Default::default());
    // As with Go's rate.Limiter, the bucket keeps the tokens it earned at
    // the old rate when the limits change (the first push may still be
    // refused), then refills at the default 4 MiB/s.
    push(&st, "slow", &long).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(push(&st, "slow", &long).await.0, StatusCode::NO_CONTENT);
    assert_eq!(push(&st, "small", "a line longer than ten bytes").await.0, StatusCode::NO_CONTENT);
    assert_eq!(query(&st, "small", "&limit=10").await.0, StatusCode::OK);
}
