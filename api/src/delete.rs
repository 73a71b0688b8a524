//! `/loki/api/v1/delete`: log deletion requests (Loki's compactor API).
//! The request is recorded through Raft; entries are removed once the
//! cancel period has passed (see `node/src/deletion.rs`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::backend::CancelRefused;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, parse_timestamp};
use crate::router::AppState;
use crate::tenant::tenant_of;

fn params(headers: &HeaderMap, raw: Option<String>, body: &Bytes) -> Params {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    Params::parse(raw.as_deref(), is_form.then_some(body.as_ref()))
}

/// `POST`/`PUT`: `query` (selector and optional line filters), `start`
/// (required), `end` (default now); RFC3339 or Unix seconds.
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = tenant_of(&headers, state.config.auth_enabled)?;
    let p = params(&headers, raw, &body);
    let query =
        p.get("query").filter(|q| !q.trim().is_empty()).ok_or_else(|| ApiError::bad_request("query not set"))?;
    balsa_query::DeleteSelector::parse(query).map_err(|e| ApiError::bad_request(e.message()))?;
    let start = p.get("start").ok_or_else(|| ApiError::bad_request("start time not set"))?;
    let start_ns = parse_timestamp(start)
        .map_err(|_| ApiError::bad_request("invalid start time: require unix seconds or RFC3339 format"))?;
    let end_ns = match p.get("end") {
        Some(end) => parse_timestamp(end)
            .map_err(|_| ApiError::bad_request("invalid end time: require unix seconds or RFC3339 format"))?,
        None => state.now_ns(),
    };
    if start_ns > end_ns {
        return Err(ApiError::bad_request("start time can't be greater than end time"));
    }
    let id = state.backend.add_delete_request(tenant, query.to_string(), start_ns, end_ns).await?;
    tracing::info!(request_id = %id, query, start_ns, end_ns, "delete request received");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Seconds as Prometheus' `model.Time` writes them: an integer when whole.
fn seconds(ms: i64) -> serde_json::Value {
    if ms % 1000 == 0 { serde_json::json!(ms / 1000) } else { serde_json::json!(ms as f64 / 1000.0) }
}

/// `GET`: the tenant's requests, oldest first.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let tenant = tenant_of(&headers, state.config.auth_enabled)?;
    let mut requests = state.backend.delete_requests(tenant).await?;
    requests.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then_with(|| a.request_id.cmp(&b.request_id)));
    let out: Vec<serde_json::Value> = requests
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "request_id": r.request_id,
                "start_time": seconds(r.start_ns.div_euclid(1_000_000)),
                "end_time": seconds(r.end_ns.div_euclid(1_000_000)),
                "query": r.query,
                "status": if r.processed { "processed" } else { "received" },
                "created_at": seconds(r.created_ms),
            })
        })
        .collect();
    Ok(([("content-type", "application/json")], serde_json::Value::Array(out).to_string()).into_response())
}

/// `DELETE`: `request_id`; refused once processing has happened.
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = tenant_of(&headers, state.config.auth_enabled)?;
    let p = params(&headers, raw, &body);
    let id =
        p.get("request_id").filter(|s| !s.is_empty()).ok_or_else(|| ApiError::bad_request("request_id not set"))?;
    match state.backend.cancel_delete_request(tenant, id.to_string()).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(CancelRefused::NotFound) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "could not find delete request with given id"))
        }
        Err(CancelRefused::AlreadyProcessed) => {
            Err(ApiError::bad_request("deletion of request which is in process or already processed is not allowed"))
        }
    }
}
