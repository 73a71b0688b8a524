//! Index statistics and volume endpoints: `index/stats`, `index/volume`,
//! `index/volume_range`. Parameters as Loki reads them
//! (`pkg/loghttp/query.go`: `ParseIndexStatsQuery`, `ParseVolumeInstantQuery`,
//! `ParseVolumeRangeQuery`); the work is `balsa_query::index`.
//!
//! `index/stats` answers Loki's bare object (`{"streams":..,"chunks":..,
//! "bytes":..,"entries":..}`, no `status`/`data` wrapper); the volume
//! endpoints answer a Prometheus vector, or a matrix once a result has more
//! than one point, as Loki's query frontend turns volumes into one.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use balsa_query::index::{self, AggregateBy, VolumeQuery, Volumes};

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::query::{check_query_length, json, params, with_readers};
use crate::response::{self, QueryStats};
use crate::router::AppState;
use crate::tenant::tenant_of;

/// `ParseRangeQuery`'s checks: the range, `limit`, `direction`, `step`
/// (with at most 11,000 points) and `interval`. Returns the range and step.
fn range_query(p: &Params, now_ns: i64) -> ApiResult<(i64, i64, i64)> {
    let (start, end) = p.range(now_ns)?;
    p.limit()?;
    p.direction()?;
    // `step` also enforces the 11,000-point bound.
    let step = p.step(start, end)?;
    p.interval()?;
    Ok((start, end, step))
}

/// `volumeLimit`: absent or 0 is the default (100), otherwise as `limit`.
fn volume_limit(p: &Params) -> ApiResult<usize> {
    match p.get("limit").map(str::parse::<i64>) {
        Some(Ok(0)) => Ok(index::DEFAULT_VOLUME_LIMIT),
        _ => p.limit(),
    }
}

/// `targetLabels`: comma-separated label names, none when empty.
fn target_labels(p: &Params) -> Vec<String> {
    p.get("targetLabels").map(|t| t.split(',').map(str::to_string).collect()).unwrap_or_default()
}

/// `aggregateBy`: `series` (default) or `labels`.
fn aggregate_by(p: &Params) -> ApiResult<AggregateBy> {
    match p.get("aggregateBy") {
        None => Ok(AggregateBy::Series),
        Some(a) => AggregateBy::parse(a).ok_or_else(|| ApiError::bad_request("invalid aggregation option")),
    }
}

/// `GET|POST /loki/api/v1/index/stats`.
pub async fn stats(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let run = async {
        let tenant = tenant_of(&headers, state.config.auth_enabled)?.to_string();
        let p = params(&headers, q, &body);
        let (start, end, _) = range_query(&p, state.now_ns())?;
        check_query_length(&state, &tenant, start, end)?;
        let matchers = index::parse_selector(p.get("query").unwrap_or(""), false)?;
        let s = with_readers(&state, move |rd| index::index_stats(rd, &tenant, &matchers, start, end)).await?;
        let body = format!(
            "{{\"streams\":{},\"chunks\":{},\"bytes\":{},\"entries\":{}}}\n",
            s.streams, s.chunks, s.bytes, s.entries
        );
        Ok::<_, ApiError>(json(body.into_bytes()))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET|POST /loki/api/v1/index/volume`: one point per result, at the end.
pub async fn volume(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let run = async {
        let started = Instant::now();
        let tenant = tenant_of(&headers, state.config.auth_enabled)?.to_string();
        let p = params(&headers, q, &body);
        // `ParseVolumeInstantQuery`: the limit, the instant query's
        // parameters (`time` is read, then unused), aggregateBy, the range.
        let limit = volume_limit(&p)?;
        p.instant(state.now_ns())?;
        p.direction()?;
        let by = aggregate_by(&p)?;
        let (start, end) = p.range(state.now_ns())?;
        run_volume(&state, tenant, &p, limit, by, (start, end, 0), started).await
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET|POST /loki/api/v1/index/volume_range`: one point per `step` bucket.
pub async fn volume_range(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let started = Instant::now();
        let tenant = tenant_of(&headers, state.config.auth_enabled)?.to_string();
        let p = params(&headers, q, &body);
        let limit = volume_limit(&p)?;
        let range = range_query(&p, state.now_ns())?;
        let by = aggregate_by(&p)?;
        run_volume(&state, tenant, &p, limit, by, range, started).await
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn run_volume(
    state: &AppState,
    tenant: String,
    p: &Params,
    limit: usize,
    aggregate_by: AggregateBy,
    (start, end, step): (i64, i64, i64),
    started: Instant,
) -> ApiResult<Response> {
    check_query_length(state, &tenant, start, end)?;
    let matchers = index::parse_selector(p.get("query").unwrap_or(""), true)?;
    let targets = target_labels(p);
    let volumes = with_readers(state, move |rd| {
        let q = VolumeQuery {
            tenant: &tenant,
            matchers: &matchers,
            target_labels: &targets,
            aggregate_by,
            limit,
            max_series: index::DEFAULT_VOLUME_MAX_SERIES,
        };
        index::volume(rd, &q, start, end, step)
    })
    .await?;
    Ok(json(volume_json(&volumes, started)))
}

/// Loki's answer: a matrix when a result has several points, else a
/// vector. Results keep their order (largest first).
fn volume_json(v: &Volumes, started: Instant) -> Vec<u8> {
    let stats = QueryStats {
        entries_returned: v.series.len() as u64,
        exec_time_s: started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    if v.matrix {
        let series: Vec<response::Series> = v
            .series
            .iter()
            .map(|s| response::Series {
                labels: s.labels.clone(),
                points: s.points.iter().map(|&(t, b)| (t, b as f64)).collect(),
            })
            .collect();
        return response::matrix(&series, stats);
    }
    let mut times = v.series.iter().map(|s| s.points[0].0);
    let ts = times.next().unwrap_or(0);
    if times.all(|t| t == ts) {
        let samples: Vec<response::Sample> = v
            .series
            .iter()
            .map(|s| response::Sample { labels: s.labels.clone(), value: s.points[0].1 as f64 })
            .collect();
        return response::vector(&samples, ts, stats);
    }
    vector_at_times(v, stats)
}

/// A vector whose samples are at different times: `volume_range` results
/// of one point each, in different buckets. `response::vector` writes one
/// time for all, so its output is taken apart and each sample's time set.
fn vector_at_times(v: &Volumes, stats: QueryStats) -> Vec<u8> {
    let samples: Vec<response::Sample> =
        v.series.iter().map(|s| response::Sample { labels: s.labels.clone(), value: s.points[0].1 as f64 }).collect();
    let mut out: serde_json::Value =
        serde_json::from_slice(&response::vector(&samples, 0, stats)).expect("response::vector writes JSON");
    let result = out["data"]["result"].as_array_mut().expect("a vector result is an array");
    for (sample, s) in result.iter_mut().zip(&v.series) {
        let ms = s.points[0].0.div_euclid(1_000_000);
        sample["value"][0] =
            if ms % 1000 == 0 { serde_json::json!(ms / 1000) } else { serde_json::json!(ms as f64 / 1000.0) };
    }
    serde_json::to_vec(&out).expect("serializing in-memory values to JSON")
}

#[cfg(test)]
mod tests {
    use balsa_model::Labels;
    use balsa_query::index::VolumeSeries;

    use super::*;

    #[test]
    fn a_vector_of_points_in_different_buckets_keeps_each_time() {
        let v = Volumes {
            series: vec![
                VolumeSeries { labels: Labels::from_pairs([("app", "a")]), points: vec![(2_500_000_000, 9)] },
                VolumeSeries { labels: Labels::from_pairs([("app", "b")]), points: vec![(1_000_000_000, 4)] },
            ],
            matrix: false,
        };
        let out: serde_json::Value = serde_json::from_slice(&volume_json(&v, Instant::now())).unwrap();
        assert_eq!(out["status"], "success");
        assert_eq!(out["data"]["resultType"], "vector");
        assert_eq!(
            out["data"]["result"],
            serde_json::json!([
                {"metric": {"app": "a"}, "value": [2.5, "9"]},
                {"metric": {"app": "b"}, "value": [1, "4"]},
            ])
        );
        assert_eq!(out["data"]["stats"]["summary"]["totalEntriesReturned"], 2);
    }

    #[test]
    fn parameters_as_loki_reads_them() {
        let p = |q: &str| Params::parse(Some(q), None);
        assert_eq!(volume_limit(&p("")).unwrap(), 100);
        assert_eq!(volume_limit(&p("limit=0")).unwrap(), 100, "volumeLimit turns 0 into the default");
        assert_eq!(volume_limit(&p("limit=7")).unwrap(), 7);
        assert_eq!(volume_limit(&p("limit=-1")).unwrap_err().message, "limit must be a positive value");
        assert!(target_labels(&p("targetLabels=")).is_empty());
        assert_eq!(target_labels(&p("targetLabels=env,pod")), vec!["env", "pod"]);
        assert_eq!(aggregate_by(&p("")).unwrap(), AggregateBy::Series);
        assert_eq!(aggregate_by(&p("aggregateBy=labels")).unwrap(), AggregateBy::Labels);
        assert_eq!(aggregate_by(&p("aggregateBy=foo")).unwrap_err().message, "invalid aggregation option");
        let now = 100_000 * 1_000_000_000;
        assert_eq!(
            range_query(&p("step=0.01"), now).unwrap_err().message,
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"
        );
        assert_eq!(range_query(&p("limit=0"), now).unwrap_err().message, "limit must be a positive value");
    }
}
