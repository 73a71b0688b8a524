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
use crate::tenant::read_tenant_of;

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
            QueryError::Limit(m) => ApiError::bad_request(series_limit_text(&m).unwrap_or(m)),
            other => ApiError::bad_request(other.message()),
        }
    }
}

/// Loki 3.7's text for `max_query_series` (`limits.go`, `logqlmodel`), for
/// the engine's "maximum of series (N) reached for a single query".
fn series_limit_text(engine: &str) -> Option<String> {
    let n = engine.strip_prefix("maximum of series (")?.split(')').next()?;
    Some(format!(
        "maximum number of series ({n}) reached for a single query; consider reducing query cardinality by adding \
         more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), \
         count() or topk()"
    ))
}

/// The request's parameters: the URL query, and a form body when there is one.
pub(crate) fn params(headers: &HeaderMap, query: Option<String>, body: &Bytes) -> Params {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    Params::parse(query.as_deref(), is_form.then_some(body.as_ref()))
}

pub(crate) fn json(body: Vec<u8>) -> Response {
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
/// passed the read barrier. If the caller's future is dropped (the client
/// went away), the readers refuse further reads and the work stops.
pub(crate) async fn with_readers<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&[&dyn StreamReader]) -> Result<T, QueryError> + Send + 'static,
) -> ApiResult<T> {
    let readers: Vec<Arc<dyn StreamReader>> = state.backend.readers().await?;
    let cancel = crate::cancel::Cancel::default();
    let _cancel_on_drop = cancel.guard();
    let joined = tokio::task::spawn_blocking(move || {
        // Several tenants (`a|b`) are read through each tenant's streams.
        let tenants: Vec<crate::multi_tenant::MultiTenant<'_>> =
            readers.iter().map(|r| crate::multi_tenant::MultiTenant::new(r.as_ref())).collect();
        let wrapped: Vec<crate::cancel::Cancellable<'_>> =
            tenants.iter().map(|r| crate::cancel::Cancellable { inner: r, cancel: &cancel }).collect();
        let refs: Vec<&dyn StreamReader> = wrapped.iter().map(|r| r as &dyn StreamReader).collect();
        work(&refs)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("query task failed: {e}")))?;
    Ok(joined?)
}

/// Like [`with_readers`], bounded by the tenant's `query_timeout` counted
/// from `started`: `work` gets the deadline at which its scan must stop, and
/// the wait for readers (the read barrier) is bounded too.
pub(crate) async fn with_readers_until_timeout<T: Send + 'static>(
    state: &AppState,
    tenant: &str,
    started: Instant,
    work: impl FnOnce(&[&dyn StreamReader], Option<Instant>) -> Result<T, QueryError> + Send + 'static,
) -> ApiResult<T> {
    let timeout = state.validator.limits_for(tenant).query_timeout.0;
    let deadline = (!timeout.is_zero()).then(|| started + timeout);
    let task = with_readers(state, move |readers| work(readers, deadline));
    if timeout.is_zero() {
        task.await
    } else {
        tokio::time::timeout(timeout, task).await.map_err(|_| ApiError::from(QueryError::Timeout))?
    }
}

/// `max_entries_limit_per_query`, checked for log queries only (Loki's
/// `validateMaxEntriesLimits`).
pub(crate) fn check_max_entries(state: &AppState, tenant: &str, limit: usize) -> ApiResult<()> {
    let max_entries = state.validator.limits_for(tenant).max_entries_limit_per_query;
    if max_entries > 0 && limit > max_entries {
        return Err(ApiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max_entries})"
        )));
    }
    Ok(())
}

/// `max_query_length` (the frontend's limits middleware): the length at
/// millisecond precision printed as a Go duration, the limit as a
/// Prometheus one (`1080h0m0s`, `30d1h`).
pub(crate) fn check_query_length(state: &AppState, tenant: &str, start: i64, end: i64) -> ApiResult<()> {
    let max_len = state.validator.limits_for(tenant).max_query_length.as_nanos_i64();
    let len = (end.div_euclid(1_000_000) - start.div_euclid(1_000_000)).saturating_mul(1_000_000);
    if max_len > 0 && len > max_len {
        return Err(ApiError::bad_request(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            balsa_logql::units::fmt_go_duration(len),
            balsa_logql::units::fmt_prom_duration(max_len)
        )));
    }
    Ok(())
}

/// Loki's frontend runs a metric range query from `start` rounded down to a
/// multiple of the step to `end` rounded up to one (`alignStartEnd` of its
/// metric query splitter), with the step at millisecond precision.
fn align_to_step(start: i64, end: i64, step: i64) -> (i64, i64, i64) {
    let step = step - step % 1_000_000;
    if step <= 0 {
        return (start, end, step);
    }
    let start = start - start.rem_euclid(step);
    let rem = end.rem_euclid(step);
    let end = if rem == 0 { end } else { end.saturating_add(step - rem) };
    (start, end, step)
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
    let tenant = read_tenant_of(&headers, &state.config)?;
    let p = params(&headers, q, &body);
    // Loki's order (`ParseRangeQuery`, then the query, then the frontend's limits).
    let (start, end) = p.range(state.now_ns())?;
    let limit = p.limit()?;
    let direction = p.direction()?;
    let step = p.step(start, end)?;
    let interval_ns = p.interval()?;
    let expr = balsa_logql::parse_expr(p.query()).map_err(QueryError::from)?;
    if let Expr::Log(_) = expr {
        check_max_entries(&state, tenant.as_str(), limit)?;
    }
    check_query_length(&state, tenant.as_str(), start, end)?;
    match expr {
        Expr::Log(log) => {
            let cat = categorize(&headers);
            let tenant = tenant.to_string();
            let result = with_readers_until_timeout(&state, &tenant.clone(), started, move |readers, deadline| {
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
            })
            .await?;
            let stats = stats_of(result.stats, started);
            let streams =
                result.streams.into_iter().map(|s| StreamOut { labels: s.labels, entries: s.entries }).collect();
            let backward = direction == balsa_model::Direction::Backward;
            Ok(json(response::streams(streams, cat, backward, stats)))
        }
        Expr::Sample(sample) => {
            let (start, end, step) = align_to_step(start, end, step);
            if step <= 0 {
                return Err(ApiError::bad_request(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer",
                ));
            }
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
    let tenant = read_tenant_of(&headers, &state.config)?;
    let p = params(&headers, q, &body);
    // Loki's order (`ParseInstantQuery`, then the query).
    p.limit()?;
    let ts = p.instant(state.now_ns())?;
    p.direction()?;
    let expr = balsa_logql::parse_expr(p.query()).map_err(QueryError::from)?;
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
    let tenant = read_tenant_of(headers, &state.config)?;
    let params = params(headers, q, body);
    let (start, end) = params.range(state.now_ns())?;
    check_query_length(state, tenant.as_str(), start, end)?;
    Ok(MetaRequest { tenant, start, end, params })
}

pub async fn labels(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let run = async {
        let r = meta_request(&state, &headers, q, &body)?;
        let matchers = selector(&r.params)?;
        let tenant = r.tenant.to_string();
        let names =
            with_readers(&state, move |rd| balsa_query::label_names(rd, &tenant, r.start, r.end, &matchers)).await?;
        Ok::<_, ApiError>(json(response::label_list(names)))
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
        Ok::<_, ApiError>(json(response::label_list(values)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn series(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let run = async {
        let r = meta_request(&state, &headers, q, &body)?;
        // `ParseSeriesQuery`: `match` and `match[]`, de-duplicated and
        // sorted; none, or a lone `{}`, selects every stream.
        let mut texts: Vec<&str> = r.params.all("match").into_iter().chain(r.params.all("match[]")).collect();
        texts.sort_unstable();
        texts.dedup();
        if let [only] = texts.as_slice()
            && only.replace(' ', "") == "{}"
        {
            texts.clear();
        }
        let mut groups = Vec::new();
        for m in texts {
            groups.push(balsa_logql::parse_matchers(m).map_err(QueryError::from)?);
        }
        let tenant = r.tenant.to_string();
        let series = with_readers(&state, move |rd| balsa_query::series(rd, &tenant, r.start, r.end, &groups)).await?;
        Ok::<_, ApiError>(json(response::series_list(&series)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    /// A slow reader over a large stream that counts the entries it hands out.
    struct SlowCounting {
        inner: balsa_model::MemStreams,
        visited: Arc<std::sync::atomic::AtomicU64>,
    }

    impl StreamReader for SlowCounting {
        fn streams(
            &self,
            tenant: &str,
            start_ns: i64,
            end_ns: i64,
            select: &mut dyn FnMut(&balsa_model::Labels) -> bool,
        ) -> Result<Vec<balsa_model::StreamRef>, balsa_model::ReadError> {
            self.inner.streams(tenant, start_ns, end_ns, select)
        }

        fn entries_hinted(
            &self,
            tenant: &str,
            stream: balsa_model::StreamId,
            start_ns: i64,
            end_ns: i64,
            direction: balsa_model::Direction,
            hint: &balsa_model::LineHint,
            visit: &mut dyn FnMut(&balsa_model::Entry) -> bool,
        ) -> Result<balsa_model::Skipped, balsa_model::ReadError> {
            self.inner.entries_hinted(tenant, stream, start_ns, end_ns, direction, hint, &mut |e| {
                let n = self.visited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n % 100 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                visit(e)
            })
        }
    }

    #[tokio::test]
    async fn a_scan_stops_when_its_request_goes_away() {
        const LINES: u64 = 200_000;
        let mut mem = balsa_model::MemStreams::new();
        let labels = balsa_model::Labels::from_pairs([("app", "x")]);
        mem.push("fake", labels, (0..LINES as i64).map(|i| balsa_model::Entry::new(i, format!("line {i}"))));
        let visited = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reader = SlowCounting { inner: mem, visited: Arc::clone(&visited) };
        let backend = Arc::new(crate::testing::StaticBackend::new(vec![Arc::new(reader)]));
        let state = crate::testing::app_state(backend, balsa_push::LimitsConfig::default(), 0);
        // The whole scan takes two seconds or more; the client leaves after 100 ms.
        let scan = with_readers(&state, |readers| {
            let mut n = 0u64;
            for r in readers {
                for s in r.streams("fake", 0, i64::MAX, &mut |_| true).map_err(QueryError::from)? {
                    r.entries("fake", s.id, 0, i64::MAX, balsa_model::Direction::Forward, &mut |_| {
                        n += 1;
                        true
                    })
                    .map_err(QueryError::from)?;
                }
            }
            Ok(n)
        });
        assert!(tokio::time::timeout(std::time::Duration::from_millis(100), scan).await.is_err());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let stopped_at = visited.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let later = visited.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(stopped_at, later, "the scan went on after its request was dropped");
        assert!(stopped_at < LINES / 2, "read {stopped_at} of {LINES} entries");
    }

    #[test]
    fn metric_ranges_align_to_the_step_as_lokis_frontend_does() {
        // 00:00:07..00:09:53 by 60s runs 00:00:00..00:10:00.
        let t0 = 1_704_067_200 * S;
        assert_eq!(align_to_step(t0 + 7 * S, t0 + 593 * S, 60 * S), (t0, t0 + 600 * S, 60 * S));
        // Multiples of the step counted from the epoch, not from the hour.
        assert_eq!(align_to_step(t0 + 10 * S, t0 + 200 * S, 45 * S), (t0, t0 + 225 * S, 45 * S));
        // Aligned bounds stay; the step is cut to milliseconds.
        assert_eq!(align_to_step(t0, t0 + 60 * S, 60 * S + 123), (t0, t0 + 60 * S, 60 * S));
        assert_eq!(align_to_step(t0, t0, 500_000), (t0, t0, 0));
    }

    #[test]
    fn series_limit_errors_read_like_loki_3_7() {
        let m = series_limit_text("maximum of series (500) reached for a single query").unwrap();
        assert!(m.starts_with("maximum number of series (500) reached for a single query; consider reducing"));
        assert_eq!(series_limit_text("something else"), None);
    }
}
