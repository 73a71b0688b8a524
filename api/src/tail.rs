//! Live tail: `GET /loki/api/v1/tail` (and `/api/prom/tail`) upgraded to a
//! WebSocket, as Loki 3.7's querier does it (`pkg/querier/tail`).
//!
//! The tail first sends the newest `limit` lines from `start` to now through
//! the log-query engine (oldest first), then every line this node applies
//! from then on: each node applies every shard, so a line acknowledged on
//! any node reaches tails on every node. Live entries are filtered by the
//! stream selector as they arrive, buffered (bounded), and every tick the
//! due ones run through the query's pipeline and go out as one text frame
//! `{"streams":[…],"dropped_entries":[…]}`. What does not fit the buffer, or
//! what the applied-push channel skipped because the tail fell behind, is
//! reported in `dropped_entries` instead of growing memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use balsa_logql::{Expr, LogExpr};
use balsa_model::{AppliedPush, Direction, Entry, Labels, MemStreams, StreamReader};
use balsa_query::{LogEntry, LogQuery, QueryError};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::error::{ApiError, ApiResult};
use crate::response::{CATEGORIZE_LABELS, ENCODING_FLAGS_HEADER, StreamOut, categorize_streams};
use crate::router::AppState;
use crate::tenant::read_tenant_of;

/// Loki's `maxDelayForInTailing` (seconds).
const MAX_DELAY_FOR: i64 = 5;
/// Loki's `maxDroppedEntriesPerTailResponse`.
const MAX_DROPPED_PER_FRAME: usize = 1000;
/// Live entries a tail holds before it drops new ones: Loki's
/// `maxBufferedTailResponses` × `maxEntriesPerTailResponse`.
const MAX_PENDING_ENTRIES: usize = 10 * 100;
/// Historical entries per frame (Loki's `maxEntriesPerTailResponse`).
const HISTORY_PER_FRAME: usize = 100;
/// How often buffered live entries are sent.
const FRAME_EVERY: Duration = Duration::from_millis(100);
/// Loki's `wsPingPeriod`.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Loki's `querier.tail_max_duration` default (the `querier` block is not
/// read by Balsa's config).
const TAIL_MAX_DURATION: Duration = Duration::from_secs(3600);
/// gorilla/websocket's `CloseInternalServerErr`, which Loki closes with.
const CLOSE_INTERNAL_ERROR: u16 = 1011;
const CLOSE_GOING_AWAY: u16 = 1001;

/// Open tails per tenant on this node (Loki counts per ingester).
static OPEN_TAILS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// One open tail of a tenant, counted until dropped.
struct TailSlot(String);

impl TailSlot {
    /// Takes a slot unless the tenant already holds `limit`; the error is Loki's.
    fn take(tenant: &str, limit: usize) -> Result<Self, String> {
        let mut guard = OPEN_TAILS.lock().unwrap_or_else(|e| e.into_inner());
        let open = guard.get_or_insert_with(HashMap::new).entry(tenant.to_string()).or_insert(0);
        if *open >= limit {
            return Err(format!(
                "max concurrent tail requests limit exceeded, count > limit ({} > {limit})",
                *open + 1
            ));
        }
        *open += 1;
        Ok(TailSlot(tenant.to_string()))
    }
}

impl Drop for TailSlot {
    fn drop(&mut self) {
        let mut guard = OPEN_TAILS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = guard.as_mut()
            && let Some(n) = map.get_mut(&self.0)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.0);
            }
        }
    }
}

/// A validated tail request.
struct TailRequest {
    expr: LogExpr,
    limit: usize,
    start_ns: i64,
    delay_ns: i64,
}

/// Loki's `ParseTailQuery` order: query, limit, start, delay_for.
fn parse_request(p: &crate::params::Params, now_ns: i64) -> ApiResult<TailRequest> {
    let expr = balsa_logql::parse_expr(p.query()).map_err(QueryError::from)?;
    let limit = p.limit()?;
    let (start_ns, _) = p.bounds(now_ns)?;
    let delay = match p.get("delay_for").filter(|s| !s.is_empty()) {
        None => 0,
        Some(raw) => raw.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("strconv.Atoi: parsing {}: invalid syntax", serde_json::json!(raw)))
        })?,
    };
    // Loki converts to uint32: a negative delay is a huge one.
    if !(0..=MAX_DELAY_FOR).contains(&delay) {
        return Err(ApiError::bad_request(format!("delay_for can't be greater than {MAX_DELAY_FOR}")));
    }
    let Expr::Log(expr) = expr else {
        return Err(ApiError::bad_request("tail requires a log query, not a metric query"));
    };
    Ok(TailRequest { expr, limit, start_ns, delay_ns: delay * 1_000_000_000 })
}

pub async fn tail(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let p = crate::query::params(&headers, q, &Bytes::new());
    let req = match parse_request(&p, state.now_ns()) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let tenant = match read_tenant_of(&headers, &state.config) {
        Ok(t) if t.as_str().contains('|') => {
            return ApiError::bad_request("live tail reads one tenant at a time").into_response();
        }
        Ok(t) => t.to_string(),
        Err(e) => return e.into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    let Some(rx) = state.backend.tail() else {
        return ApiError::new(StatusCode::NOT_IMPLEMENTED, "live tail is not available on this node").into_response();
    };
    let categorize = headers
        .get_all(ENCODING_FLAGS_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim().eq_ignore_ascii_case(CATEGORIZE_LABELS));
    ws.on_upgrade(move |socket| async move {
        let mut socket = socket;
        // As Loki: the limit is checked once the socket is open, and a
        // refusal is a close frame with the error.
        let limit = state.validator.limits_for(&tenant).max_concurrent_tail_requests;
        let slot = match TailSlot::take(&tenant, limit) {
            Ok(s) => s,
            Err(msg) => {
                close(&mut socket, CLOSE_INTERNAL_ERROR, &msg).await;
                return;
            }
        };
        tracing::info!(tenant = %tenant, query = %p.query(), "starting to tail logs");
        run(&state, &mut socket, &tenant, req, rx, categorize).await;
        drop(slot);
        tracing::info!(tenant = %tenant, "ended tailing logs");
    })
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

/// Resolves on SIGTERM or SIGINT, the signals the server shuts down on:
/// an upgraded socket is no longer tracked by the server's graceful
/// shutdown, so the tail closes itself.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

async fn run(
    state: &AppState,
    socket: &mut WebSocket,
    tenant: &str,
    req: TailRequest,
    mut rx: broadcast::Receiver<Arc<AppliedPush>>,
    categorize: bool,
) {
    let expr = Arc::new(req.expr);
    // Loki validates the historical query after the tail limit, so its
    // errors are close frames too.
    if let Err(e) = crate::query::check_max_entries(state, tenant, req.limit) {
        close(socket, CLOSE_INTERNAL_ERROR, &e.message).await;
        return;
    }
    let limits = state.validator.limits_for(tenant);
    let timeout = limits.query_timeout.0;
    let deadline = (!timeout.is_zero()).then(|| std::time::Instant::now() + timeout);
    // History: the newest `limit` lines in [start, now), sent oldest first.
    let end = state.now_ns();
    let history = {
        let (tenant, expr) = (tenant.to_string(), Arc::clone(&expr));
        let (start, limit) = (req.start_ns, req.limit);
        crate::query::with_readers(state, move |readers| {
            balsa_query::run_log_query(
                readers,
                &LogQuery {
                    tenant: &tenant,
                    expr: &expr,
                    start_ns: start,
                    end_ns: end,
                    limit,
                    direction: Direction::Backward,
                    interval_ns: 0,
                    deadline,
                },
            )
        })
        .await
    };
    let history = match history {
        Ok(h) => h,
        Err(e) => {
            close(socket, CLOSE_INTERNAL_ERROR, &e.message).await;
            return;
        }
    };
    // Lines the history holds that may also arrive live (pushed while it ran).
    let mut seen: HashSet<(i64, String)> = HashSet::new();
    let mut hist: Vec<(Labels, LogEntry)> = Vec::new();
    for s in history.streams {
        for e in s.entries {
            seen.insert((e.ts_ns, e.line.clone()));
            hist.push((s.labels.clone(), e));
        }
    }
    hist.sort_by_key(|(_, e)| e.ts_ns);
    for chunk in hist.chunks(HISTORY_PER_FRAME) {
        let streams = group(chunk.iter().cloned());
        let text = frame_json(streams, &[], categorize);
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }

    let mut pending = Pending::new(MAX_PENDING_ENTRIES);
    let mut frames = tokio::time::interval(FRAME_EVERY);
    let mut pings = tokio::time::interval(PING_EVERY);
    let max_duration = tokio::time::sleep(TAIL_MAX_DURATION);
    tokio::pin!(max_duration);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Ok(push) => {
                    if push.tenant != tenant {
                        continue;
                    }
                    for s in &push.streams {
                        if !balsa_query::selects(&expr.matchers, &s.labels) {
                            continue;
                        }
                        for e in &s.entries {
                            if !seen.is_empty() && seen.remove(&(e.ts_ns, e.line.clone())) {
                                continue;
                            }
                            pending.offer(&s.labels, e);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(tenant = %tenant, skipped = n, "live tail fell behind the applied pushes");
                    pending.lagged(n, state.now_ns());
                }
                Err(broadcast::error::RecvError::Closed) => {
                    close(socket, CLOSE_INTERNAL_ERROR, "the node stopped applying pushes").await;
                    return;
                }
            },
            _ = frames.tick() => {
                let due = pending.take_due(state.now_ns(), req.delay_ns);
                if due.is_empty() && pending.dropped.is_empty() {
                    continue;
                }
                let streams = match run_pipeline(tenant, &expr, due) {
                    Ok(s) => s,
                    Err(e) => {
                        close(socket, CLOSE_INTERNAL_ERROR, e.message()).await;
                        return;
                    }
                };
                let dropped = std::mem::take(&mut pending.dropped);
                if streams.is_empty() && dropped.is_empty() {
                    continue;
                }
                let text = frame_json(streams, &dropped, categorize);
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            _ = pings.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = &mut max_duration => {
                close(socket, CLOSE_INTERNAL_ERROR, "reached tail max duration limit").await;
                return;
            }
            _ = &mut shutdown => {
                close(socket, CLOSE_GOING_AWAY, "server shutting down").await;
                return;
            }
        }
    }
}

/// An entry the tail could not send: Loki reports its stream and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub ts_ns: i64,
    pub labels: Labels,
}

/// Live entries waiting for the next frame, bounded; what does not fit is
/// remembered (bounded too) as dropped.
pub(crate) struct Pending {
    cap: usize,
    entries: Vec<(Labels, Entry)>,
    pub dropped: Vec<Dropped>,
}

impl Pending {
    pub fn new(cap: usize) -> Self {
        Self { cap, entries: Vec::new(), dropped: Vec::new() }
    }

    fn drop_one(&mut self, d: Dropped) {
        if self.dropped.len() < MAX_DROPPED_PER_FRAME {
            self.dropped.push(d);
        }
    }

    pub fn offer(&mut self, labels: &Labels, e: &Entry) {
        if self.entries.len() >= self.cap {
            self.drop_one(Dropped { ts_ns: e.ts_ns, labels: labels.clone() });
        } else {
            self.entries.push((labels.clone(), e.clone()));
        }
    }

    /// The channel skipped `n` pushes: their streams and times are unknown,
    /// so each is reported once, at `now_ns`, without labels.
    pub fn lagged(&mut self, n: u64, now_ns: i64) {
        for _ in 0..n.min(MAX_DROPPED_PER_FRAME as u64) {
            self.drop_one(Dropped { ts_ns: now_ns, labels: Labels::default() });
        }
    }

    /// Entries old enough to send (`delay_for`: at least that far behind
    /// now; without a delay, everything).
    pub fn take_due(&mut self, now_ns: i64, delay_ns: i64) -> Vec<(Labels, Entry)> {
        if delay_ns == 0 {
            return std::mem::take(&mut self.entries);
        }
        let (due, keep) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|(_, e)| e.ts_ns.saturating_add(delay_ns) <= now_ns);
        self.entries = keep;
        due
    }
}

/// Runs the query's pipeline over live entries (any stream of the tenant
/// that the selector matches), as a log query over them would.
fn run_pipeline(tenant: &str, expr: &LogExpr, due: Vec<(Labels, Entry)>) -> Result<Vec<StreamOut>, QueryError> {
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_stream: BTreeMap<String, (Labels, Vec<Entry>)> = BTreeMap::new();
    for (labels, e) in due {
        by_stream.entry(labels.canonical()).or_insert_with(|| (labels, Vec::new())).1.push(e);
    }
    let mut mem = MemStreams::new();
    for (_, (labels, entries)) in by_stream {
        mem.push(tenant, labels, entries);
    }
    let readers: [&dyn StreamReader; 1] = [&mem];
    let result = balsa_query::run_log_query(
        &readers,
        &LogQuery {
            tenant,
            expr,
            start_ns: i64::MIN,
            end_ns: i64::MAX,
            limit: 0,
            direction: Direction::Forward,
            interval_ns: 0,
            deadline: None,
        },
    )?;
    Ok(result.streams.into_iter().map(|s| StreamOut { labels: s.labels, entries: s.entries }).collect())
}

/// Entries (each with its result labels) as result streams, in order.
fn group(entries: impl Iterator<Item = (Labels, LogEntry)>) -> Vec<StreamOut> {
    let mut out: Vec<StreamOut> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (labels, e) in entries {
        let i = *index.entry(labels.canonical()).or_insert_with(|| {
            out.push(StreamOut { labels, entries: Vec::new() });
            out.len() - 1
        });
        out[i].entries.push(e);
    }
    out
}

fn label_map(pairs: &[balsa_model::LabelPair]) -> Value {
    Value::Object(pairs.iter().map(|p| (p.name.clone(), Value::String(p.value.clone()))).collect())
}

/// One tail frame in Loki's shape (`EncodeTailResult`): `streams` always,
/// `dropped_entries` only when some were, `encodingFlags` with the flag.
pub(crate) fn frame_json(streams: Vec<StreamOut>, dropped: &[Dropped], categorize: bool) -> String {
    let streams = if categorize { categorize_streams(streams, false) } else { streams };
    let streams: Vec<Value> = streams
        .iter()
        .map(|s| {
            let values: Vec<Value> = s
                .entries
                .iter()
                .map(|e| {
                    if categorize {
                        let mut cats = Map::new();
                        if !e.structured_metadata.is_empty() {
                            cats.insert("structuredMetadata".into(), label_map(&e.structured_metadata));
                        }
                        if !e.parsed.is_empty() {
                            cats.insert("parsed".into(), label_map(&e.parsed));
                        }
                        json!([e.ts_ns.to_string(), e.line, Value::Object(cats)])
                    } else {
                        json!([e.ts_ns.to_string(), e.line])
                    }
                })
                .collect();
            json!({"stream": label_map(s.labels.pairs()), "values": values})
        })
        .collect();
    let mut out = String::from("{\"streams\":");
    out.push_str(&Value::Array(streams).to_string());
    if !dropped.is_empty() {
        // Loki's order: timestamp, then labels (omitted when empty).
        out.push_str(",\"dropped_entries\":[");
        for (i, d) in dropped.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("{{\"timestamp\":\"{}\"", d.ts_ns));
            if !d.labels.is_empty() {
                out.push_str(",\"labels\":");
                out.push_str(&label_map(d.labels.pairs()).to_string());
            }
            out.push('}');
        }
        out.push(']');
    }
    if categorize {
        out.push_str(",\"encodingFlags\":[\"");
        out.push_str(CATEGORIZE_LABELS);
        out.push_str("\"]");
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn frame_has_streams_and_omits_empty_dropped_entries() {
        let s = StreamOut {
            labels: labels(&[("job", "tail")]),
            entries: vec![
                LogEntry::from_entry(&Entry::new(5, "keep a")),
                LogEntry::from_entry(&Entry::new(7, "keep b")),
            ],
        };
        assert_eq!(
            frame_json(vec![s], &[], false),
            r#"{"streams":[{"stream":{"job":"tail"},"values":[["5","keep a"],["7","keep b"]]}]}"#
        );
        assert_eq!(frame_json(Vec::new(), &[], false), r#"{"streams":[]}"#);
    }

    #[test]
    fn frame_reports_dropped_entries_labels_only_when_known() {
        let dropped =
            [Dropped { ts_ns: 9, labels: labels(&[("job", "x")]) }, Dropped { ts_ns: 10, labels: Labels::default() }];
        assert_eq!(
            frame_json(Vec::new(), &dropped, false),
            r#"{"streams":[],"dropped_entries":[{"timestamp":"9","labels":{"job":"x"}},{"timestamp":"10"}]}"#
        );
    }

    #[test]
    fn categorized_frame_has_three_tuples_and_the_flag() {
        let mut e = Entry::new(5, "l");
        e.structured_metadata = vec![balsa_model::LabelPair { name: "trace_id".into(), value: "t".into() }];
        let s = StreamOut {
            labels: labels(&[("job", "tail"), ("trace_id", "t")]),
            entries: vec![LogEntry::from_entry(&e)],
        };
        assert_eq!(
            frame_json(vec![s], &[], true),
            r#"{"streams":[{"stream":{"job":"tail"},"values":[["5","l",{"structuredMetadata":{"trace_id":"t"}}]]}],"encodingFlags":["categorize-labels"]}"#
        );
    }

    #[test]
    fn a_full_buffer_drops_and_caps_what_it_reports() {
        let l = labels(&[("job", "tail")]);
        let mut p = Pending::new(2);
        for i in 0..5 {
            p.offer(&l, &Entry::new(i, "x"));
        }
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.dropped.iter().map(|d| d.ts_ns).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(p.dropped.iter().all(|d| d.labels == l));
        p.lagged(5000, 42);
        assert_eq!(p.dropped.len(), MAX_DROPPED_PER_FRAME);
        assert_eq!(p.take_due(0, 0).len(), 2);
        assert!(p.entries.is_empty());
    }

    #[test]
    fn delay_holds_entries_until_they_are_old_enough() {
        let l = labels(&[("job", "tail")]);
        let mut p = Pending::new(10);
        p.offer(&l, &Entry::new(100, "a"));
        p.offer(&l, &Entry::new(200, "b"));
        let due = p.take_due(150, 50);
        assert_eq!(due.iter().map(|(_, e)| e.ts_ns).collect::<Vec<_>>(), vec![100]);
        assert_eq!(p.take_due(250, 50).len(), 1);
    }

    #[test]
    fn pipeline_keeps_matching_lines_of_selected_streams() {
        let Expr::Log(expr) = balsa_logql::parse_expr(r#"{job="tail"} |= "keep""#).unwrap() else { panic!() };
        let due = vec![
            (labels(&[("job", "tail")]), Entry::new(1, "keep 1")),
            (labels(&[("job", "tail")]), Entry::new(2, "drop 2")),
            (labels(&[("job", "other")]), Entry::new(3, "keep 3")),
            (labels(&[("job", "tail")]), Entry::new(4, "keep 4")),
        ];
        let out = run_pipeline("t", &expr, due).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entries.iter().map(|e| e.line.as_str()).collect::<Vec<_>>(), vec!["keep 1", "keep 4"]);
    }

    #[test]
    fn delay_for_and_metric_queries_are_refused_before_the_upgrade() {
        let parse = |q: &str| parse_request(&crate::params::Params::parse(Some(q), None), 0);
        let err = |q: &str| parse(q).err().map(|e| e.message).unwrap();
        assert_eq!(err("query=%7Bjob%3D%22a%22%7D&delay_for=6"), "delay_for can't be greater than 5");
        assert_eq!(err("query=%7Bjob%3D%22a%22%7D&delay_for=-1"), "delay_for can't be greater than 5");
        assert!(parse("query=%7Bjob%3D%22a%22%7D&delay_for=5").is_ok());
        assert!(err("query=count_over_time(%7Bjob%3D%22a%22%7D%5B1m%5D)").contains("log query"));
        let r = parse("query=%7Bjob%3D%22a%22%7D").unwrap();
        assert_eq!((r.limit, r.start_ns, r.delay_ns), (100, -3_600_000_000_000, 0));
    }

    #[test]
    fn tail_slots_are_counted_per_tenant() {
        let a = TailSlot::take("slot-test", 1).unwrap();
        assert_eq!(
            TailSlot::take("slot-test", 1).err().unwrap(),
            "max concurrent tail requests limit exceeded, count > limit (2 > 1)"
        );
        let _other = TailSlot::take("slot-test-2", 1).unwrap();
        drop(a);
        assert!(TailSlot::take("slot-test", 1).is_ok());
    }
}
