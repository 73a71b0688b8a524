//! The rules API (`/loki/api/v1/rules…`, `/api/prom/rules…`) and
//! Prometheus' `rules` and `alerts` endpoints, with Loki's status codes and
//! bodies (`pkg/ruler/base/api.go`). Groups posted here are replicated
//! through partition 0, so every node serves them at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::alert::{Alert, AlertState};
use crate::group::{GroupStatus, RuleStatus, rule_name};
use crate::manager::{GroupView, Ruler, Source};
use crate::rules::{self, RuleGroup};
use crate::store::{GroupState, RULES_PARTITION, RULES_SPACE, STATE_SPACE, group_record_key, record_prefix};

/// Resolves the tenant of a request, or answers with the error response.
pub type TenantResolver = Arc<dyn Fn(&HeaderMap) -> Result<String, Response> + Send + Sync>;

#[derive(Clone)]
pub struct HttpState {
    pub ruler: Arc<Ruler>,
    pub tenant: TenantResolver,
}

/// The routes; the rules API only when `ruler.enable_api`.
pub fn routes(state: HttpState) -> Router {
    let mut router = Router::new()
        .route("/prometheus/api/v1/rules", get(prometheus_rules))
        .route("/prometheus/api/v1/alerts", get(prometheus_alerts))
        .route("/api/prom/api/v1/rules", get(prometheus_rules))
        .route("/api/prom/api/v1/alerts", get(prometheus_alerts));
    if state.ruler.config().enable_api {
        for base in ["/loki/api/v1/rules", "/api/prom/rules"] {
            router = router
                .route(base, get(list_rules))
                .route(
                    &format!("{base}/{{namespace}}"),
                    get(list_namespace).post(create_group).delete(delete_namespace),
                )
                .route(&format!("{base}/{{namespace}}/{{group}}"), get(get_group).delete(delete_group));
        }
    }
    router.with_state(state)
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, [("content-type", "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}

fn yaml(body: String) -> Response {
    (StatusCode::OK, [("content-type", "application/yaml")], body).into_response()
}

/// Loki's 202 body, fields in its order.
fn accepted() -> Response {
    let body = r#"{"status":"success","data":null,"errorType":"","error":""}"#;
    (StatusCode::ACCEPTED, [("content-type", "application/json")], body).into_response()
}

/// Loki's JSON error body, fields in its order.
fn json_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = format!(
        r#"{{"status":"error","data":null,"errorType":{},"error":{}}}"#,
        serde_json::Value::from(kind),
        serde_json::Value::from(message)
    );
    (status, [("content-type", "application/json")], body).into_response()
}

/// Path parameters must be local names (Loki: `filepath.IsLocal`).
fn check_local(kind: &str, name: &str) -> Result<(), Response> {
    let bad =
        name.is_empty() || name.starts_with('/') || name.split(['/', '\\']).any(|p| p == "..") || name.contains('\0');
    if bad {
        return Err(plain(StatusCode::BAD_REQUEST, &format!("invalid {kind}: path traversal not allowed")));
    }
    Ok(())
}

/// Groups of the tenant by namespace, optionally one namespace only.
fn by_namespace(groups: Vec<GroupView>, namespace: Option<&str>) -> BTreeMap<String, Vec<RuleGroup>> {
    let mut out: BTreeMap<String, Vec<RuleGroup>> = BTreeMap::new();
    for g in groups {
        if namespace.is_some_and(|ns| ns != g.id.namespace) {
            continue;
        }
        out.entry(g.id.namespace.clone()).or_default().push(g.def);
    }
    out
}

/// `?labels=k:v,k2:v2`: keeps rules having any of the pairs (a pair without
/// `:` is ignored, where Loki panics).
fn filter_labels(map: &mut BTreeMap<String, Vec<RuleGroup>>, query: Option<&str>) {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "labels")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter_map(|p| p.split_once(':').map(|(a, b)| (a.to_string(), b.to_string())))
                .collect::<Vec<_>>()
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    for groups in map.values_mut() {
        for g in groups.iter_mut() {
            g.rules.retain(|r| pairs.iter().any(|(k, v)| r.labels.get(k) == Some(v)));
        }
        groups.retain(|g| !g.rules.is_empty());
    }
    map.retain(|_, g| !g.is_empty());
}

async fn list_rules(State(st): State<HttpState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    list(st, headers, None, q).await
}

async fn list_namespace(
    State(st): State<HttpState>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    list(st, headers, Some(namespace), q).await
}

async fn list(st: HttpState, headers: HeaderMap, namespace: Option<String>, q: Option<String>) -> Response {
    let tenant = match (st.tenant)(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(ns) = &namespace
        && let Err(r) = check_local("namespace", ns)
    {
        return r;
    }
    let fresh = st.ruler.sync_api().await;
    if let Err(e) = fresh {
        return plain(StatusCode::BAD_REQUEST, &e);
    }
    let mut map = by_namespace(st.ruler.groups(&tenant), namespace.as_deref());
    filter_labels(&mut map, q.as_deref());
    if map.is_empty() {
        return plain(StatusCode::NOT_FOUND, "no rule groups found");
    }
    yaml(rules::namespaces_to_yaml(&map))
}

async fn get_group(
    State(st): State<HttpState>,
    Path((namespace, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let tenant = match (st.tenant)(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Err(r) = check_local("namespace", &namespace).and_then(|_| check_local("group name", &group)) {
        return r;
    }
    if let Err(e) = st.ruler.sync_api().await {
        return plain(StatusCode::BAD_REQUEST, &e);
    }
    match st.ruler.groups(&tenant).into_iter().find(|g| g.id.namespace == namespace && g.id.name == group) {
        Some(g) => yaml(rules::group_to_yaml(&g.def)),
        None => plain(StatusCode::NOT_FOUND, "group does not exist"),
    }
}

async fn create_group(
    State(st): State<HttpState>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = match (st.tenant)(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Err(r) = check_local("namespace", &namespace) {
        return r;
    }
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(_) => return plain(StatusCode::BAD_REQUEST, "unable to read rule group: body is not utf-8"),
    };
    let group = match rules::parse_api_group(text) {
        Ok(g) => g,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e),
    };
    let problems = rules::validate_group(&group);
    if !problems.is_empty() {
        return plain(StatusCode::BAD_REQUEST, &problems.join(", "));
    }
    if let Err(r) = check_local("group name", &group.name) {
        return r;
    }
    let limits = st.ruler.limits(&tenant);
    if limits.max_rules_per_rule_group > 0 && group.rules.len() > limits.max_rules_per_rule_group {
        return plain(
            StatusCode::BAD_REQUEST,
            &format!(
                "per-user rules per rule group limit (limit: {} actual: {}) exceeded",
                limits.max_rules_per_rule_group,
                group.rules.len()
            ),
        );
    }
    if limits.max_rule_groups_per_tenant > 0 {
        if let Err(e) = st.ruler.sync_api().await {
            return plain(StatusCode::INTERNAL_SERVER_ERROR, &e);
        }
        let others = st
            .ruler
            .groups(&tenant)
            .iter()
            .filter(|g| !(g.id.namespace == namespace && g.id.name == group.name))
            .count();
        if others + 1 > limits.max_rule_groups_per_tenant {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!(
                    "per-user rule groups limit (limit: {} actual: {}) exceeded",
                    limits.max_rule_groups_per_tenant,
                    others + 1
                ),
            );
        }
    }
    let key = group_record_key(&tenant, &namespace, &group.name);
    let value = serde_json::to_vec(&group).expect("rule group serializes");
    let backend = &st.ruler.shared().backend;
    if let Err(e) = backend.write_record(RULES_PARTITION, RULES_SPACE, key, Some(value)).await {
        tracing::error!(error = %e, tenant, namespace, "cannot store rule group");
        return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("unable to store rule group: {e}"));
    }
    st.ruler.wake();
    accepted()
}

async fn delete_group(
    State(st): State<HttpState>,
    Path((namespace, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    delete(st, headers, namespace, Some(group)).await
}

async fn delete_namespace(State(st): State<HttpState>, Path(namespace): Path<String>, headers: HeaderMap) -> Response {
    delete(st, headers, namespace, None).await
}

async fn delete(st: HttpState, headers: HeaderMap, namespace: String, group: Option<String>) -> Response {
    let tenant = match (st.tenant)(&headers) {
        Ok(t) => t,
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "no org id"),
    };
    if let Err(r) = check_local("namespace", &namespace) {
        return r;
    }
    let backend = &st.ruler.shared().backend;
    let prefix = match &group {
        Some(g) => group_record_key(&tenant, &namespace, g),
        None => record_prefix(&tenant, Some(&namespace)),
    };
    let existing = match backend.records(RULES_PARTITION, RULES_SPACE, prefix.clone()).await {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string()),
    };
    let existing: Vec<String> =
        existing.into_iter().map(|(k, _)| k).filter(|k| group.is_none() || *k == prefix).collect();
    if existing.is_empty() {
        let in_file = st.ruler.groups(&tenant).into_iter().any(|g| {
            g.id.namespace == namespace && group.as_ref().is_none_or(|n| *n == g.id.name) && g.source != Source::Api
        });
        if in_file {
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad_data",
                "the rule group is defined in a rule file on disk; edit or remove the file instead",
            );
        }
        let what = if group.is_some() { "group does not exist" } else { "namespace does not exist" };
        return json_error(StatusCode::NOT_FOUND, "not_found", what);
    }
    let result = match &group {
        Some(_) => backend.write_record(RULES_PARTITION, RULES_SPACE, prefix, None).await,
        None => backend.delete_records(RULES_PARTITION, RULES_SPACE, prefix).await,
    };
    if let Err(e) = result {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string());
    }
    st.ruler.wake();
    accepted()
}

// ---------------------------------------------------------------------------
// Prometheus' rules and alerts
// ---------------------------------------------------------------------------

fn prometheus_tenant(st: &HttpState, headers: &HeaderMap) -> Result<String, Response> {
    let raw = headers.get("X-Scope-OrgID").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if raw.contains('|') {
        return Err(json_error(StatusCode::BAD_REQUEST, "bad_data", "too many org ids found"));
    }
    (st.tenant)(headers)
}

/// RFC 3339 with nanoseconds, as Go's `time.Time` marshals; Go's zero time for 0.
fn rfc3339(ms: i64) -> String {
    if ms <= 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `1e+00`, `1.5e+03`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Loki's response envelope (`pkg/ruler/base/api.go`), fields in its order.
#[derive(Serialize)]
struct Envelope<T: Serialize> {
    status: &'static str,
    data: T,
    #[serde(rename = "errorType")]
    error_type: &'static str,
    error: &'static str,
}

fn success<T: Serialize>(data: T) -> Response {
    let body = serde_json::to_string(&Envelope { status: "success", data, error_type: "", error: "" })
        .expect("response serializes");
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

#[derive(Serialize)]
struct AlertJson {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: &'static str,
    #[serde(rename = "activeAt")]
    active_at: String,
    value: String,
}

#[derive(Serialize)]
struct GroupJson {
    name: String,
    file: String,
    rules: Vec<RuleJson>,
    interval: f64,
    limit: u64,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: String,
    #[serde(rename = "evaluationTime")]
    evaluation_time: f64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum RuleJson {
    Alerting(AlertingRuleJson),
    Recording(RecordingRuleJson),
}

#[derive(Serialize)]
struct AlertingRuleJson {
    state: &'static str,
    name: String,
    query: String,
    duration: f64,
    /// Balsa honours `keep_firing_for` (Loki drops it); Prometheus' field name.
    #[serde(rename = "keepFiringFor", skip_serializing_if = "Option::is_none")]
    keep_firing_for: Option<f64>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    alerts: Vec<AlertJson>,
    health: String,
    #[serde(rename = "lastError")]
    last_error: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: String,
    #[serde(rename = "evaluationTime")]
    evaluation_time: f64,
}

#[derive(Serialize)]
struct RecordingRuleJson {
    name: String,
    query: String,
    labels: BTreeMap<String, String>,
    health: String,
    #[serde(rename = "lastError")]
    last_error: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: String,
    #[serde(rename = "evaluationTime")]
    evaluation_time: f64,
}

fn alert_json(a: &Alert) -> AlertJson {
    AlertJson {
        labels: a.labels.iter().cloned().collect(),
        annotations: a.annotations.iter().cloned().collect(),
        state: a.state.as_str(),
        active_at: rfc3339(a.active_at_ms),
        value: format_value(a.value),
    }
}

/// The status of every group of `tenant`: this node's own for the groups it
/// evaluates, else the replicated state (health and alerts as of their last change).
async fn statuses(st: &HttpState, tenant: &str) -> Vec<GroupView> {
    let mut views = st.ruler.groups(tenant);
    let backend = &st.ruler.shared().backend;
    let partitions = backend.partitions().max(1);
    let mut wanted: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, v) in views.iter().enumerate() {
        if !v.status.owner {
            wanted.entry((v.id.hash() % partitions as u64) as u32).or_default().push(i);
        }
    }
    for (partition, idx) in wanted {
        let Ok(records) = backend.records(partition, STATE_SPACE, record_prefix(tenant, None)).await else { continue };
        let records: BTreeMap<String, Vec<u8>> = records.into_iter().collect();
        for i in idx {
            let v = &mut views[i];
            let Some(state) = records.get(&v.id.record_key()).and_then(|b| GroupState::decode(b).ok()) else {
                continue;
            };
            v.status = replicated_status(&v.def, &state);
        }
    }
    views
}

fn replicated_status(def: &RuleGroup, state: &GroupState) -> GroupStatus {
    GroupStatus {
        owner: false,
        last_evaluation_ms: state.written_at_ms,
        evaluation_seconds: 0.0,
        rules: def
            .rules
            .iter()
            .map(|r| match state.rule(rule_name(r), &r.expr) {
                Some(s) => RuleStatus {
                    health: s.health.clone(),
                    last_error: s.last_error.clone(),
                    last_evaluation_ms: state.written_at_ms,
                    evaluation_seconds: 0.0,
                    alerts: s.alerts.iter().filter(|a| a.state != AlertState::Inactive).cloned().collect(),
                },
                None => RuleStatus { health: "unknown".into(), ..Default::default() },
            })
            .collect(),
    }
}

/// The rule's state: firing if any alert fires, else pending if any is pending.
fn rule_state(alerts: &[Alert]) -> AlertState {
    if alerts.iter().any(|a| a.state == AlertState::Firing) {
        AlertState::Firing
    } else if alerts.iter().any(|a| a.state == AlertState::Pending) {
        AlertState::Pending
    } else {
        AlertState::Inactive
    }
}

async fn prometheus_rules(State(st): State<HttpState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let tenant = match prometheus_tenant(&st, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let all = |name: &str| -> Vec<String> {
        params.iter().filter(|(k, _)| k == name || *k == format!("{name}[]")).map(|(_, v)| v.clone()).collect()
    };
    let kind = params.iter().find(|(k, _)| k == "type").map(|(_, v)| v.to_lowercase()).unwrap_or_default();
    let (want_alerts, want_records) = match kind.as_str() {
        "" => (true, true),
        "alert" => (true, false),
        "record" => (false, true),
        other => {
            return json_error(StatusCode::BAD_REQUEST, "bad_data", &format!("not supported value {other:?}"));
        }
    };
    let (files, groups_f, names) = (all("file"), all("rule_group"), all("rule_name"));
    let _ = st.ruler.sync_api().await;
    let mut groups = Vec::new();
    let file_errors = st.ruler.file_errors(&tenant);
    for mut v in statuses(&st, &tenant).await {
        // A rule file that fails to load keeps its last good groups running;
        // their rules say why the file's newer version is not in force.
        if let Some(e) =
            file_errors.iter().find(|e| e.namespace == v.id.namespace && v.source == Source::File(e.path.clone()))
        {
            for r in &mut v.status.rules {
                r.health = "err".into();
                r.last_error = format!("rule file not reloaded, last good version running: {}", e.message);
            }
        }
        if !files.is_empty() && !files.contains(&v.id.namespace) {
            continue;
        }
        if !groups_f.is_empty() && !groups_f.contains(&v.id.name) {
            continue;
        }
        let mut rules = Vec::new();
        for (i, r) in v.def.rules.iter().enumerate() {
            let s = v.status.rules.get(i).cloned().unwrap_or_default();
            if !names.is_empty() && !names.iter().any(|n| n == rule_name(r)) {
                continue;
            }
            let health = if s.health.is_empty() { "unknown".to_string() } else { s.health.clone() };
            match &r.alert {
                Some(alert) if want_alerts => rules.push(RuleJson::Alerting(AlertingRuleJson {
                    state: rule_state(&s.alerts).as_str(),
                    name: alert.clone(),
                    query: r.expr.clone(),
                    duration: r.for_.map(|d| d.0.as_secs_f64()).unwrap_or(0.0),
                    keep_firing_for: r.keep_firing_for.map(|d| d.0.as_secs_f64()),
                    labels: r.labels.clone(),
                    annotations: r.annotations.clone(),
                    alerts: s.alerts.iter().map(alert_json).collect(),
                    health,
                    last_error: s.last_error,
                    kind: "alerting",
                    last_evaluation: rfc3339(s.last_evaluation_ms),
                    evaluation_time: s.evaluation_seconds,
                })),
                None if want_records => rules.push(RuleJson::Recording(RecordingRuleJson {
                    name: r.record.clone().unwrap_or_default(),
                    query: r.expr.clone(),
                    labels: r.labels.clone(),
                    health,
                    last_error: s.last_error,
                    kind: "recording",
                    last_evaluation: rfc3339(s.last_evaluation_ms),
                    evaluation_time: s.evaluation_seconds,
                })),
                _ => {}
            }
        }
        if rules.is_empty() && (!names.is_empty() || !kind.is_empty()) {
            continue;
        }
        let interval = v.def.interval.map(|d| d.0).unwrap_or(st.ruler.config().evaluation_interval.0);
        groups.push(GroupJson {
            name: v.id.name.clone(),
            file: v.id.namespace.clone(),
            rules,
            interval: interval.as_secs_f64(),
            limit: v.def.limit,
            last_evaluation: rfc3339(v.status.last_evaluation_ms),
            evaluation_time: v.status.evaluation_seconds,
        });
    }
    #[derive(Serialize)]
    struct Data {
        groups: Vec<GroupJson>,
    }
    success(Data { groups })
}

async fn prometheus_alerts(State(st): State<HttpState>, headers: HeaderMap) -> Response {
    let tenant = match prometheus_tenant(&st, &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let _ = st.ruler.sync_api().await;
    let mut alerts = Vec::new();
    for v in statuses(&st, &tenant).await {
        for s in &v.status.rules {
            alerts.extend(s.alerts.iter().filter(|a| a.state != AlertState::Inactive).map(alert_json));
        }
    }
    #[derive(Serialize)]
    struct Data {
        alerts: Vec<AlertJson>,
    }
    success(Data { alerts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_like_go_e_format() {
        // strconv.FormatFloat(v, 'e', -1, 64)
        for (v, want) in [
            (1.0, "1e+00"),
            (1.5, "1.5e+00"),
            (1234.0, "1.234e+03"),
            (0.001, "1e-03"),
            (0.0, "0e+00"),
            (-2.5e-10, "-2.5e-10"),
            (1e100, "1e+100"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(format_value(v), want, "{v}");
        }
    }

    #[test]
    fn times_print_like_go() {
        assert_eq!(rfc3339(0), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn path_traversal_is_refused() {
        assert!(check_local("namespace", "../etc").is_err());
        assert!(check_local("namespace", "/abs").is_err());
        assert!(check_local("namespace", "a/../../b").is_err());
        assert!(check_local("namespace", "ok-name").is_ok());
        assert!(check_local("namespace", "").is_err());
    }
}
