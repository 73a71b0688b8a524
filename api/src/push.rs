//! `POST /loki/api/v1/push` (and the legacy `/api/prom/push`).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use balsa_model::{PushRequest, TenantId};

use crate::error::{ApiError, ApiResult};
use crate::router::AppState;
use crate::tenant::tenant_of;

/// Bodies larger than this are decoded off the async workers.
const INLINE_DECODE_BYTES: usize = 256 * 1024;

pub async fn push(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(state, headers, body, false).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn push_legacy(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(state, headers, body, true).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn decode(state: &AppState, headers: &HeaderMap, body: Bytes, legacy: bool) -> ApiResult<PushRequest> {
    let content_type = header(headers, "content-type").map(str::to_owned);
    let content_encoding = header(headers, "content-encoding").map(str::to_owned);
    let max = state.config.max_decompressed_size;
    let large = body.len() > INLINE_DECODE_BYTES;
    let run = move || {
        let f = if legacy { balsa_push::decode_legacy } else { balsa_push::decode };
        f(content_type.as_deref(), content_encoding.as_deref(), &body, max)
    };
    let decoded = if large {
        tokio::task::spawn_blocking(run).await.map_err(|e| ApiError::bad_request(format!("decode task: {e}")))?
    } else {
        run()
    };
    Ok(decoded?)
}

async fn handle(state: AppState, headers: HeaderMap, body: Bytes, legacy: bool) -> ApiResult<()> {
    let started = Instant::now();
    let tenant = tenant_of(&headers, state.config.auth_enabled)?;
    let received_bytes = body.len();
    let request = decode(&state, &headers, body, legacy).await?;
    ingest(&state, &tenant, request, received_bytes, None, started).await
}

/// What every push path shares once its body is decoded: validation (with
/// `validator` in place of the tenant's own when given), rate limits, the
/// write acknowledged by a quorum, and one grouped error.
pub(crate) async fn ingest(
    state: &AppState,
    tenant: &TenantId,
    request: PushRequest,
    received_bytes: usize,
    validator: Option<&balsa_push::Validator>,
    started: Instant,
) -> ApiResult<()> {
    let now_ns = state.now_ns();
    let validated = validator.unwrap_or(&state.validator).validate(tenant.as_str(), request, now_ns);
    let lines = validated.accepted.line_count();
    let bytes = validated.accepted.byte_count();
    metrics::counter!("loki_distributor_bytes_received_total", "tenant" => tenant.to_string())
        .increment(received_bytes as u64);
    if validated.discarded_lines > 0 {
        metrics::counter!("loki_discarded_samples_total", "tenant" => tenant.to_string(), "reason" => "validation")
            .increment(validated.discarded_lines as u64);
    }
    let mut errors: Vec<String> = Vec::new();
    let mut status = None;
    if let Some(e) = validated.error {
        status = Some(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST));
        errors.push(e.body());
    }
    let mut accepted = validated.accepted;
    if lines > 0 {
        let limits = state.validator.limits_for(tenant.as_str());
        let now = Instant::now();
        state.rate_limiter.check(tenant.as_str(), &limits, lines, bytes, now)?;
        let (kept, stream_err) = state.stream_rate_limiter.apply(tenant.as_str(), &limits, accepted, now);
        accepted = kept;
        if let Some(e) = stream_err {
            status = Some(StatusCode::TOO_MANY_REQUESTS);
            errors.push(e.body());
        }
    }
    if accepted.line_count() > 0 {
        let outcome = state.backend.push(tenant.clone(), accepted.clone()).await?;
        metrics::counter!("loki_distributor_lines_received_total", "tenant" => tenant.to_string())
            .increment(accepted.line_count() as u64);
        if !outcome.rejected.is_empty() {
            status.get_or_insert(StatusCode::BAD_REQUEST);
            errors.extend(outcome.rejected);
        }
    }
    metrics::histogram!("balsa_push_seconds").record(started.elapsed().as_secs_f64());
    match status {
        None => Ok(()),
        Some(status) => Err(ApiError::new(status, errors.join("\n"))),
    }
}
