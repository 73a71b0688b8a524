//! Logs Drilldown's endpoints: `drilldown-limits`, `detected_labels`,
//! `detected_fields` and `detected_field/{name}/values`, with Loki 3.7's
//! parameters, error texts and JSON (`pkg/loki/config_handler.go`,
//! `pkg/loghttp/query.go` `ParseDetectedFieldsQuery`,
//! `pkg/querier/queryrange/detected_fields.go`, `pkg/logproto`'s JSON tags).
//! The work is `balsa_query::detected`'s.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use balsa_logql::units::{fmt_prom_duration, go_quote};
use balsa_logql::{Expr, LogExpr};
use balsa_model::Direction;
use balsa_query::detected::{self, DetectedField};
use balsa_query::{LogQuery, QueryError};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::{MAX_POINTS_PER_SERIES, Params, default_step, parse_seconds_or_duration};
use crate::query::{
    check_max_entries, check_query_length, json as json_response, params, with_readers, with_readers_until_timeout,
};
use crate::router::AppState;
use crate::tenant::read_tenant_of;

/// `line_limit` when absent (Loki's `defaultQueryLimit`).
pub const DEFAULT_LINE_LIMIT: usize = 100;
/// `limit` (fields or values) when absent (Loki's `defaultLimit`).
pub const DEFAULT_FIELD_LIMIT: usize = 1000;

// ---------------------------------------------------------------- drilldown-limits

/// The tenant's limits that Loki publishes (`tenant_limits_allow_publish`'s
/// default list), as Go's `encoding/json` writes them: keys sorted,
/// durations as Prometheus durations, byte sizes as strings. Limits Balsa
/// does not have are given the value that describes its behaviour (Loki's
/// defaults: no lookback or range limit, volume on, no metric aggregation).
pub fn published_limits(l: &balsa_push::LimitsConfig) -> Map<String, Value> {
    let dur = |d: &balsa_model::units::Duration| Value::from(fmt_prom_duration(d.as_nanos_i64()));
    let mut m = Map::new();
    m.insert("discover_log_levels".into(), l.discover_log_levels.into());
    m.insert("discover_service_name".into(), json!(l.discover_service_name));
    m.insert("log_level_fields".into(), json!(l.log_level_fields));
    m.insert("max_entries_limit_per_query".into(), l.max_entries_limit_per_query.into());
    m.insert("max_line_size_truncate".into(), l.max_line_size_truncate.into());
    m.insert("max_query_bytes_read".into(), "0B".into());
    m.insert("max_query_length".into(), dur(&l.max_query_length));
    m.insert("max_query_lookback".into(), "0s".into());
    m.insert("max_query_range".into(), "0s".into());
    m.insert("max_query_series".into(), l.max_query_series.into());
    m.insert("metric_aggregation_enabled".into(), false.into());
    m.insert("otlp_config".into(), otlp_json(&l.otlp_config));
    m.insert("pattern_persistence_enabled".into(), false.into());
    m.insert("query_timeout".into(), dur(&l.query_timeout));
    m.insert("retention_period".into(), dur(&l.retention_period));
    if !l.retention_stream.is_empty() {
        let rules: Vec<Value> = l
            .retention_stream
            .iter()
            .map(|r| json!({"period": fmt_prom_duration(r.period.as_nanos_i64()), "priority": r.priority, "selector": r.selector}))
            .collect();
        m.insert("retention_stream".into(), rules.into());
    }
    m.insert("volume_enabled".into(), true.into());
    m.insert("volume_max_series".into(), 1000.into());
    m
}

/// A tenant's `otlp_config` as Loki publishes it: after
/// `ApplyGlobalOTLPConfig` (the default index-label rule first, unless
/// `ignore_defaults`), every key `omitempty` but `resource_attributes`.
fn otlp_json(c: &balsa_push::otlp::OtlpConfig) -> Value {
    let mut rules = Vec::new();
    if !c.resource_attributes.ignore_defaults {
        rules.push(json!({
            "action": "index_label",
            "attributes": balsa_push::otlp::config::DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS,
        }));
    }
    let rule = |r: &balsa_push::otlp::AttributesConfig| serde_json::to_value(r).unwrap_or_default();
    rules.extend(c.resource_attributes.attributes_config.iter().map(rule));
    let mut resource = Map::new();
    if c.resource_attributes.ignore_defaults {
        resource.insert("ignore_defaults".into(), true.into());
    }
    if !rules.is_empty() {
        resource.insert("attributes_config".into(), rules.into());
    }
    let mut m = Map::new();
    m.insert("resource_attributes".into(), resource.into());
    if !c.scope_attributes.is_empty() {
        m.insert("scope_attributes".into(), c.scope_attributes.iter().map(rule).collect());
    }
    if !c.log_attributes.is_empty() {
        m.insert("log_attributes".into(), c.log_attributes.iter().map(rule).collect());
    }
    if c.severity_text_as_label {
        m.insert("severity_text_as_label".into(), true.into());
    }
    m.into()
}

/// `GET /loki/api/v1/drilldown-limits`. Unlike Loki 3.7, which reads the
/// tenant before its auth middleware and so answers 401 without
/// `X-Scope-OrgID` even with auth disabled, this answers for `fake` then.
/// There is no pattern ingester (yet): `pattern_ingester_enabled` is false,
/// which hides Drilldown's Patterns tab.
pub async fn limits(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let run = || {
        let tenant = read_tenant_of(&headers, &state.config)?;
        let limits = state.validator.limits_for(tenant.as_str());
        let body = json!({
            "limits": published_limits(&limits),
            "pattern_ingester_enabled": false,
            "version": state.config.version,
        });
        let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
        bytes.push(b'\n');
        Ok::<_, ApiError>(json_response(bytes))
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------- detected_labels

#[derive(Serialize)]
struct LabelOut<'a> {
    label: &'a str,
    cardinality: u64,
}

#[derive(Serialize)]
struct LabelsOut<'a> {
    #[serde(rename = "detectedLabels", skip_serializing_if = "<[_]>::is_empty")]
    detected_labels: &'a [LabelOut<'a>],
}

/// Loki's JSON for a `DetectedLabelsResponse` (`omitempty`: `{}` when empty).
pub fn labels_json(labels: &[detected::DetectedLabel]) -> Vec<u8> {
    let out: Vec<LabelOut> = labels.iter().map(|l| LabelOut { label: &l.label, cardinality: l.cardinality }).collect();
    to_bytes(&LabelsOut { detected_labels: &out })
}

/// Go's encoders end the body with a newline.
fn to_bytes(body: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

pub async fn detected_labels(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let tenant = read_tenant_of(&headers, &state.config)?;
        let p = params(&headers, q, &body);
        // `ParseDetectedLabelsQuery`, then the frontend's limits, then the
        // querier's selector.
        let (start, end) = p.range(state.now_ns())?;
        check_query_length(&state, tenant.as_str(), start, end)?;
        let matchers = match p.get("query") {
            Some(q) => balsa_logql::parse_matchers(q).map_err(QueryError::from)?,
            None => Vec::new(),
        };
        let tenant = tenant.to_string();
        let labels =
            with_readers(&state, move |rd| detected::detected_labels(rd, &tenant, start, end, &matchers)).await?;
        Ok::<_, ApiError>(json_response(labels_json(&labels)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------- detected_fields

#[derive(Serialize)]
struct FieldOut<'a> {
    label: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    cardinality: u64,
    /// Never omitted: `null` for structured metadata.
    parsers: &'a Option<Vec<String>>,
    #[serde(rename = "jsonPath", skip_serializing_if = "Option::is_none")]
    json_path: &'a Option<Vec<String>>,
}

/// `DetectedFieldsResponse` in its field order, every field `omitempty`.
#[derive(Serialize)]
struct FieldsOut<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    fields: &'a [FieldOut<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    values: &'a [String],
}

/// Loki's JSON for a `DetectedFieldsResponse` with fields: `limit` only
/// when there is something (`{}` otherwise).
pub fn fields_json(fields: &[DetectedField], limit: usize) -> Vec<u8> {
    let out: Vec<FieldOut> = fields
        .iter()
        .map(|f| FieldOut {
            label: &f.label,
            kind: f.kind.as_str(),
            cardinality: f.cardinality,
            parsers: &f.parsers,
            json_path: &f.json_path,
        })
        .collect();
    let limit = (!out.is_empty()).then_some(limit);
    to_bytes(&FieldsOut { fields: &out, limit, values: &[] })
}

/// Loki's JSON for a `DetectedFieldsResponse` with values.
pub fn values_json(values: &[String], limit: usize) -> Vec<u8> {
    let limit = (!values.is_empty()).then_some(limit);
    to_bytes(&FieldsOut { fields: &[], limit, values })
}

/// Go's `strconv.Atoi`, with its error text.
fn atoi(raw: &str) -> ApiResult<i64> {
    let digits = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(raw))));
    }
    raw.parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("strconv.Atoi: parsing {}: value out of range", go_quote(raw))))
}

/// A positive count parameter (`lineLimit`, `detectedFieldsLimit`).
fn positive(raw: Option<&str>, default: usize) -> ApiResult<usize> {
    match raw {
        None => Ok(default),
        Some(raw) => {
            let n = atoi(raw)?;
            if n <= 0 {
                return Err(ApiError::bad_request("limit must be a positive value"));
            }
            // Loki keeps it in a uint32.
            Ok(n.min(i64::from(u32::MAX)) as usize)
        }
    }
}

/// A `detected_fields` request, checked in Loki's order.
struct FieldsRequest {
    tenant: String,
    start: i64,
    end: i64,
    line_limit: usize,
    limit: usize,
    expr: LogExpr,
}

fn fields_request(state: &AppState, headers: &HeaderMap, p: &Params) -> ApiResult<FieldsRequest> {
    let tenant = read_tenant_of(headers, &state.config)?;
    // `ParseDetectedFieldsQuery`.
    let (start, end) = p.range(state.now_ns())?;
    let line_limit = positive(p.get("line_limit"), DEFAULT_LINE_LIMIT)?;
    let limit = positive(p.get("limit").or_else(|| p.get("field_limit")), DEFAULT_FIELD_LIMIT)?;
    let step = match p.get("step") {
        Some(s) => parse_seconds_or_duration(s)?,
        None => default_step(start, end),
    };
    // Loki keeps the step in milliseconds.
    if step < 1_000_000 {
        return Err(ApiError::bad_request(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_request(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
        ));
    }
    // The codec parses the query, then the handler wants a log query.
    let expr = match balsa_logql::parse_expr(p.query()).map_err(QueryError::from)? {
        Expr::Log(log) => log,
        Expr::Sample(_) => return Err(ApiError::bad_request("only log selector is supported")),
    };
    check_max_entries(state, tenant.as_str(), line_limit)?;
    check_query_length(state, tenant.as_str(), start, end)?;
    Ok(FieldsRequest { tenant: tenant.to_string(), start, end, line_limit, limit, expr })
}

/// Runs `work` over the sample of a `detected_fields` request.
async fn over_sample<T: Send + 'static>(
    state: &AppState,
    r: FieldsRequest,
    work: impl FnOnce(&[balsa_query::StreamResult], usize) -> Result<T, QueryError> + Send + 'static,
) -> ApiResult<T> {
    let tenant = r.tenant.clone();
    with_readers_until_timeout(state, &tenant, Instant::now(), move |readers, deadline| {
        let q = LogQuery {
            tenant: &r.tenant,
            expr: &r.expr,
            start_ns: r.start,
            end_ns: r.end,
            limit: r.line_limit,
            direction: Direction::Backward,
            interval_ns: 0,
            deadline,
        };
        work(&detected::sample(readers, &q)?, r.limit)
    })
    .await
}

pub async fn detected_fields(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let p = params(&headers, q, &body);
        let r = fields_request(&state, &headers, &p)?;
        let limit = r.limit;
        let fields = over_sample(&state, r, detected::fields_of).await?;
        Ok::<_, ApiError>(json_response(fields_json(&fields, limit)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn detected_field_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let run = async {
        let p = params(&headers, q, &body);
        let r = fields_request(&state, &headers, &p)?;
        let limit = r.limit;
        let values =
            over_sample(&state, r, move |streams, limit| detected::field_values_of(streams, limit, &name)).await?;
        Ok::<_, ApiError>(json_response(values_json(&values, limit)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
