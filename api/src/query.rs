//! Query and metadata endpoints: `query_range`, `query`, `labels`,
//! `label/{name}/values`, `series`. Parsing and execution live in
//! `balsa-logql` and `balsa-query`; this module maps HTTP to them.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use balsa_logql::{Expr, Matcher};
use balsa_model::{StreamReader, TenantId};
use balsa_query::{EvalLimits, InstantValue, LogQuery, MetricQuery, QueryError};

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::response::{self, CATEGORIZE_LABELS, ENCODING_FLAGS_HEADER, QueryStats, StreamOut};
use crate::router::AppState;
use crate::tenant::tenant_of;

const LOG_QUERY_NOT_INSTANT: &str =
    "log queries are not supported as an instant query type, please change your query to a range query type";

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Storage(m) => {
                tracing::error!(error = %m, "query storage failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error reading data, see the server logs")
            }
            QueryError::Unavailable(m) => {
                tracing::error!(error = %m, "query cannot reach object storage");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m)
            }
            QueryError::Timeout => ApiError::new(StatusCode::GATEWAY_TIMEOUT, balsa_query::TIMEOUT_MESSAGE),
            // Loki writes non-client evaluation errors as a 500 with their text.
            QueryError::Execution(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m),
            other => ApiError::bad_request(other.message()),
        }
    }
}

fn params(headers: &HeaderMap, query: Option<String>, body: &Bytes) -> Params {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    Params::parse(query.as_deref(), is_form.then_some(body.as_ref()))
}

fn json(body: Vec<u8>) -> Response {
    ([("content-type", "application/json; charset=utf-8")], body).into_response()
}

fn categorize(headers: &HeaderMap) -> bool {
    headers
        .get_all(ENCODING_FLAGS_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim().eq_ignore_ascii_case(CATEGORIZE_LABELS))
}

/// Runs blocking storage work off the async workers, with readers that have
/// passed the read barrier.
async fn with_readers<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&[&dyn StreamReader]) -> Result<T, QueryError> + Send + 'static,
) -> ApiResult<T> {
    let readers: Vec<Arc<dyn StreamReader>> = state.backend.readers().await?;
    let joined = tokio::task::spawn_blocking(move || {
        let refs: Vec<&dyn StreamReader> = readers.iter().map(|r| r.as_ref()).collect();
        work(&refs)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("query task failed: {e}")))?;
    Ok(joined?)
}

fn check_limits(state: &AppState, tenant: &str, limit: usize, start: i64, end: i64) -> ApiResult<()> {
    let limits = state.validator.limits_for(tenant);
    let max_entries = limits.max_entries_limit_per_query;
    if max_entries > 0 && limit > max_entries {
        return Err(ApiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max_entries})"
        )));
    }
    let max_len = limits.max_query_length.as_nanos_i64();
    if max_len > 0 && end.saturating_sub(start) > max_len {
        return Err(ApiError::bad_request(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            balsa_model::units::Duration(std::time::Duration::from_nanos(end.saturating_sub(start) as u64)),
            limits.max_query_length
        )));
    }
    Ok(())
}

fn stats_of(s: balsa_query::QueryStats, started: Instant) -> QueryStats {
    QueryStats {
        lines_processed: s.lines_processed,
        bytes_processed: s.bytes_processed,
        entries_returned: s.entries_returned,
        exec_time_s: started.elapsed().as_secs_f64(),
    }
}

pub async fn range(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    run_range(state, headers, q, body).await.unwrap_or_else(IntoResponse::into_response)
}

async fn run_range(state: AppState, headers: HeaderMap, q: Option<String>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let tenant = tenant_of(&headers, state.config.auth_enabled)?;
    let p = params(&headers, q, &body);
    let expr = balsa_logql::parse_expr(p.query()?).map_err(QueryError::from)?;
    let (start, end) = p.range(state.now_ns())?;
    let limit = p.limit()?;
    let direction = p.direction()?;
    let interval_ns = p.interval()?;
    check_limits(&state, tenant.as_str(), limit, start, end)?;
    match expr {
        Expr::Log(log) => {
            let cat = categorize(&headers);
            let tenant = tenant.to_string();
            let timeout = state.validator.limits_for(&tenant).query_timeout.0;
            let deadline = (!timeout.is_zero()).then(|| started + timeout);
            let work = with_readers(&state, move |readers| {
                balsa_query::run_log_query(
                    readers,
                    &LogQuery {
                        tenant: &tenant,
                        expr: &log,
                        start_ns: start,
                        end_ns: end,
                        limit,
                        direction,
                        interval_ns,
                        deadline,
                    },
                )
            });
            // The scan stops at the deadline by itself; the timeout also bounds
            // the wait for readers (the read barrier).
            let result = if timeout.is_zero() {
                work.await?
            } else {
                tokio::time::timeout(timeout, work).await.map_err(|_| ApiError::from(QueryError::Timeout))??
            };
            let stats = stats_of(result.stats, started);
            let streams =
                result.streams.into_iter().map(|s| StreamOut { labels: s.labels, entries: s.entries }).collect();
            let backward = direction == balsa_model::Direction::Backward;
            Ok(json(response::streams(streams, cat, backward, stats)))
        }
        Expr::Sample(sample) => {
            let step = p.step(start, end)?;
            let tenant = tenant.to_string();
            let limits = eval_limits(&state, &tenant, started);
            let (series, stats) = with_readers(&state, move |readers| {
                let q = MetricQuery { tenant: &tenant, expr: &sample, limits };
                balsa_query::eval_range(readers, &q, start, end, step)
            })
            .await?;
            let series: Vec<response::Series> =
                series.into_iter().map(|s| response::Series { labels: s.labels, points: s.points }).collect();
            Ok(json(response::matrix(&series, stats_of(stats, started))))
        }
    }
}

/// `max_query_series` and `query_timeout` for a metric query started at `started`.
fn eval_limits(state: &AppState, tenant: &str, started: Instant) -> EvalLimits {
    let limits = state.validator.limits_for(tenant);
    let timeout = limits.query_timeout.0;
    EvalLimits { max_series: limits.max_query_series, deadline: (!timeout.is_zero()).then(|| started + timeout) }
}

pub async fn instant(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    run_instant(state, headers, q, body).await.unwrap_or_else(IntoResponse::into_response)
}

async fn run_instant(state: AppState, headers: HeaderMap, q: Option<String>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let tenant = tenant_of(&headers, state.config.auth_enabled)?;
    let p = params(&headers, q, &body);
    let expr = balsa_logql::parse_expr(p.query()?).map_err(QueryError::from)?;
    let ts = p.instant(state.now_ns())?;
    p.limit()?;
    p.direction()?;
    let sample = match expr {
        Expr::Log(_) => return Err(ApiError::bad_request(LOG_QUERY_NOT_INSTANT)),
        Expr::Sample(s) => s,
    };
    let tenant = tenant.to_string();
    let limits = eval_limits(&state, &tenant, started);
    let (value, stats) = if sample.is_data_free() {
        balsa_query::eval_instant(&[], &MetricQuery { tenant: &tenant, expr: &sample, limits }, ts)?
    } else {
        with_readers(&state, move |readers| {
            balsa_query::eval_instant(readers, &MetricQuery { tenant: &tenant, expr: &sample, limits }, ts)
        })
        .await?
    };
    let stats = stats_of(stats, started);
    Ok(json(match value {
        InstantValue::Scalar(v) => response::scalar(ts, v, stats),
        InstantValue::Vector(samples) => {
            let samples: Vec<response::Sample> =
                samples.into_iter().map(|s| response::Sample { labels: s.labels, value: s.value }).collect();
            response::vector(&samples, ts, stats)
        }
    }))
}

/// The optional `query` selector of label endpoints.
fn selector(p: &Params) -> ApiResult<Vec<Matcher>> {
    match p.get("query") {
        None => Ok(Vec::new()),
        Some(q) => Ok(balsa_logql::parse_matchers(q).map_err(QueryError::from)?),
    }
}

struct MetaRequest {
    tenant: TenantId,
    start: i64,
    end: i64,
    params: Params,
}

fn meta_request(state: &AppState, headers: &HeaderMap, q: Option<String>, body: &Bytes) -> ApiResult<MetaRequest> {
    let tenant = tenant_of(headers, state.config.auth_enabled)?;
    let params = params(headers, q, body);
    let (start, end) = params.range(state.now_ns())?;
    Ok(MetaRequest { tenant, start, end, params })
}

pub async fn labels(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let run = async {
        let r = meta_request(&state, &headers, q, &body)?;
        let matchers = selector(&r.params)?;
        let tenant = r.tenant.to_string();
        let names =
            with_readers(&state, move |rd| balsa_query::label_names(rd, &tenant, r.start, r.end, &matchers)).await?;
        Ok::<_, ApiError>(json(response::data_list(names)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let r = meta_request(&state, &headers, q, &body)?;
        let matchers = selector(&r.params)?;
        let tenant = r.tenant.to_string();
        let values =
            with_readers(&state, move |rd| balsa_query::label_values(rd, &tenant, &name, r.start, r.end, &matchers))
                .await?;
        Ok::<_, ApiError>(json(response::data_list(values)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn series(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let run = async {
        let r = meta_request(&state, &headers, q, &body)?;
        let mut groups = Vec::new();
        for m in r.params.all("match[]").into_iter().chain(r.params.all("match")) {
            groups.push(balsa_logql::parse_matchers(m).map_err(QueryError::from)?);
        }
        if groups.is_empty() {
            return Err(ApiError::bad_request("at least one match[] argument must be provided"));
        }
        let tenant = r.tenant.to_string();
        let series = with_readers(&state, move |rd| balsa_query::series(rd, &tenant, r.start, r.end, &groups)).await?;
        Ok::<_, ApiError>(json(response::series_list(&series)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
