//! The route table and the state every handler shares.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use balsa_push::{RateLimiter, StreamRateLimiter, Validator};

use crate::backend::Backend;
use crate::{delete, drilldown, format_query, ops, push, query};

/// HTTP-facing settings, taken from the node's configuration.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub auth_enabled: bool,
    /// `querier.multi_tenant_queries_enabled`: reads may name several
    /// tenants (`X-Scope-OrgID: a|b`); see `multi_tenant.rs`.
    pub multi_tenant_queries_enabled: bool,
    /// Largest request body accepted (compressed), `distributor.max_recv_msg_size`.
    pub max_recv_msg_size: usize,
    /// Largest push body after decompression.
    pub max_decompressed_size: usize,
    pub version: String,
    pub revision: String,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ApiConfig>,
    pub backend: Arc<dyn Backend>,
    pub validator: Arc<Validator>,
    pub rate_limiter: Arc<RateLimiter>,
    pub stream_rate_limiter: Arc<StreamRateLimiter>,
    /// Renders `/metrics`.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// Renders `/config` for a mode (`""`, `diffs`, `defaults`).
    pub config_yaml: Arc<dyn Fn(&str) -> String + Send + Sync>,
    /// The wall clock, replaceable in tests.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl AppState {
    pub fn now_ns(&self) -> i64 {
        (self.clock)()
    }
}

pub fn system_clock() -> Arc<dyn Fn() -> i64 + Send + Sync> {
    Arc::new(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX))
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_recv_msg_size;
    Router::new()
        .route("/loki/api/v1/push", post(push::push))
        .route("/api/prom/push", post(push::push_legacy))
        .route("/otlp/v1/logs", post(crate::otlp::logs))
        .route("/loki/api/v1/query", get(query::instant).post(query::instant))
        .route("/loki/api/v1/query_range", get(query::range).post(query::range))
        .route("/loki/api/v1/labels", get(query::labels).post(query::labels))
        .route("/loki/api/v1/label", get(query::labels).post(query::labels))
        .route("/loki/api/v1/label/{name}/values", get(query::label_values).post(query::label_values))
        .route("/loki/api/v1/series", get(query::series).post(query::series))
        .route("/loki/api/v1/index/stats", get(crate::index::stats).post(crate::index::stats))
        .route("/loki/api/v1/index/volume", get(crate::index::volume).post(crate::index::volume))
        .route("/loki/api/v1/index/volume_range", get(crate::index::volume_range).post(crate::index::volume_range))
        .route("/loki/api/v1/drilldown-limits", get(drilldown::limits))
        .route("/loki/api/v1/detected_labels", get(drilldown::detected_labels).post(drilldown::detected_labels))
        .route("/loki/api/v1/detected_fields", get(drilldown::detected_fields).post(drilldown::detected_fields))
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(drilldown::detected_field_values).post(drilldown::detected_field_values),
        )
        .route("/loki/api/v1/tail", get(crate::tail::tail))
        .route("/api/prom/tail", get(crate::tail::tail))
        .route("/loki/api/v1/format_query", get(format_query::format_query).post(format_query::format_query))
        .route("/loki/api/v1/delete", post(delete::add).put(delete::add).get(delete::list).delete(delete::cancel))
        .route("/loki/api/v1/status/buildinfo", get(ops::buildinfo))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/config", get(ops::config))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(record_request))
        .with_state(state)
}

/// `loki_request_duration_seconds{method, route, status_code}`.
async fn record_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| route_label(p.as_str())).unwrap_or_else(|| "other".to_string());
    let resp = next.run(req).await;
    metrics::histogram!(
        "loki_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status_code" => resp.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    resp
}

/// Loki names routes by their path with separators as underscores.
fn route_label(path: &str) -> String {
    path.trim_start_matches('/').replace(['/', '{', '}'], "_").trim_matches('_').to_string()
}
