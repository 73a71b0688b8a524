//! The Alertmanager API v2 client: what Loki's ruler does with Prometheus'
//! notifier [loki `pkg/ruler/base/notifier.go`, `manager.go`; prometheus
//! `notifier/sendloop.go` as vendored in loki@HEAD].
//!
//! - `ruler.alertmanager_url` is a comma list; each URL is one Alertmanager,
//!   its path the API prefix (alerts go to `<prefix>/api/v2/alerts`) and a
//!   `user:pass@` in it basic auth (`basic_auth_username`/`_password` of
//!   [`AlertmanagerClientConfig`] override it; basic auth wins over the
//!   `Authorization` credentials when both are set, as in Prometheus).
//! - As in Loki, every tenant has its own queue per Alertmanager (capacity
//!   `notification_queue_capacity`; the oldest alerts are dropped when full)
//!   drained by its own task, and every request carries `X-Scope-OrgID:
//!   <tenant>` (for multi-tenant Alertmanagers such as Mimir's). So a tenant
//!   whose alerts an Alertmanager refuses never delays another's.
//! - [`Notifier::send`] never blocks: it only queues. The task POSTs batches
//!   of up to [`MAX_BATCH_SIZE`] alerts as JSON; a failed POST (connection
//!   error, timeout, non-2xx, redirect) is logged and counted and the batch
//!   dropped, never retried: the rule manager re-sends active alerts every
//!   `resend_delay`, as Prometheus relies on.
//!
//! Metrics are Prometheus' notifier metrics under Loki's names: Loki
//! registers one notifier per tenant with the prefix `loki_` and the label
//! `user`, and Prometheus labels each with `alertmanager`, the POST URL
//! without user info:
//! `loki_prometheus_notifications_{sent,errors,dropped}_total{user,alertmanager}`,
//! `loki_prometheus_notifications_queue_length{user,alertmanager}`,
//! `loki_prometheus_notifications_latency_seconds{user,alertmanager}` and
//! `..._latency_histogram_seconds` (Prometheus has a summary and a histogram;
//! here both are histograms), `loki_prometheus_notifications_queue_capacity{user}`
//! and `loki_prometheus_notifications_alertmanagers_discovered{user}`.

mod config;

pub use config::AlertmanagerClientConfig;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::{Notify, watch};

/// Most alerts in one POST (Prometheus' `DefaultMaxBatchSize`).
pub const MAX_BATCH_SIZE: usize = 256;
/// Loki's `notification_queue_capacity` default, used when 0 is given.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Loki's `notification_timeout` default, used when zero is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// `User-Agent` of the notifier and the remote writer.
pub(crate) const USER_AGENT_VALUE: &str = concat!("Balsa/", env!("CARGO_PKG_VERSION"));
pub(crate) const ORG_ID_HEADER: &str = "X-Scope-OrgID";
/// How much of an error response body goes into the log.
pub(crate) const MAX_ERROR_BODY: usize = 1024;

/// One alert as Alertmanager receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifyAlert {
    /// Identity of the alert (must include `alertname`); empty values are left out.
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    /// `startsAt`, Unix milliseconds (Prometheus sends `FiredAt`).
    pub starts_at_ms: i64,
    /// `endsAt`: the resolve time, or the lease `ValidUntil` of a firing
    /// alert; `None` leaves it to Alertmanager (`now + resolve_timeout`).
    pub ends_at_ms: Option<i64>,
    /// `generatorURL` (see [`generator_url`]); left out when empty.
    pub generator_url: String,
}

/// Totals over every tenant and Alertmanager since start, for tests and
/// status pages (the same numbers as the metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Alerts waiting in queues now.
    pub queued: u64,
    /// Alerts Alertmanagers accepted (2xx).
    pub sent: u64,
    /// Alerts in POSTs that failed.
    pub errors: u64,
    /// Alerts dropped: queue overflow, or in a failed POST.
    pub dropped: u64,
}

/// Sends alerts to the configured Alertmanagers. Dropping it stops the
/// background tasks (queued alerts are lost: call [`Notifier::flush`] first).
pub struct Notifier {
    shared: Option<Arc<Shared>>,
    _stop: Option<watch::Sender<()>>,
}

struct Shared {
    targets: Vec<Arc<Target>>,
    http: reqwest::Client,
    timeout: Duration,
    capacity: usize,
    runtime: Option<Handle>,
    stop: watch::Receiver<()>,
    tenants: Mutex<HashMap<String, Arc<[Arc<SendLoop>]>>>,
}

/// One Alertmanager.
#[derive(Debug)]
struct Target {
    /// `scheme://host[:port]<prefix>/api/v2/alerts` without user info: the
    /// POST URL and the `alertmanager` label value.
    url: String,
    basic: Option<(String, String)>,
    authorization: Option<Authorization>,
}

/// An `Authorization: <type> <credentials>` header, the credentials given
/// or read from a file at every request (so a rotated token is picked up).
#[derive(Clone, Debug)]
pub(crate) struct Authorization {
    pub(crate) kind: String,
    pub(crate) credentials: String,
    pub(crate) credentials_file: String,
}

impl Authorization {
    pub(crate) async fn header_value(&self) -> Result<String, String> {
        let credentials = if !self.credentials.is_empty() || self.credentials_file.is_empty() {
            self.credentials.clone()
        } else {
            read_secret_file(&self.credentials_file).await?
        };
        Ok(format!("{} {}", self.kind, credentials))
    }
}

/// Reads a secret file and trims it, as Prometheus' `FileSecret` does.
pub(crate) async fn read_secret_file(path: &str) -> Result<String, String> {
    tokio::fs::read_to_string(path)
        .await
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read secret file {path}: {e}"))
}

/// One tenant's queue for one Alertmanager, drained by one task.
struct SendLoop {
    tenant: String,
    target: Arc<Target>,
    state: Mutex<LoopState>,
    /// Woken when alerts are queued.
    work: Notify,
    /// Woken when the queue is empty and no POST is in flight.
    idle: Notify,
    metrics: LoopMetrics,
    sent: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Default)]
struct LoopState {
    queue: VecDeque<Arc<NotifyAlert>>,
    /// A batch is being sent.
    busy: bool,
    /// A task drains this queue (false only when no tokio runtime was found).
    running: bool,
}

struct LoopMetrics {
    sent: Counter,
    errors: Counter,
    dropped: Counter,
    queue_length: Gauge,
    latency: Histogram,
    latency_histogram: Histogram,
}

impl Notifier {
    /// `alertmanager_url` is Loki's comma list (empty: no Alertmanager, and
    /// [`Notifier::send`] does nothing). `queue_capacity` is per tenant and
    /// Alertmanager (0: 10000); `timeout` bounds each POST (zero: 10s).
    ///
    /// Background tasks run on the tokio runtime current here, or else on
    /// the one current at the first [`Notifier::send`].
    pub fn new(
        alertmanager_url: &str,
        client: &AlertmanagerClientConfig,
        queue_capacity: usize,
        timeout: Duration,
    ) -> Result<Notifier, String> {
        client.validate()?;
        let mut targets: Vec<Arc<Target>> = Vec::new();
        let mut seen = HashSet::new();
        for raw in alertmanager_url.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let target = parse_target(raw, client)?;
            if seen.insert(target.url.clone()) {
                targets.push(Arc::new(target));
            }
        }
        if targets.is_empty() {
            return Ok(Notifier { shared: None, _stop: None });
        }
        describe_metrics();
        let timeout = if timeout.is_zero() { DEFAULT_TIMEOUT } else { timeout };
        // Loki builds the client config by hand: no redirects, no proxy.
        let builder =
            reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).connect_timeout(timeout);
        let http = client
            .apply_tls(builder)?
            .build()
            .map_err(|e| format!("ruler.alertmanager_client: cannot build http client: {e}"))?;
        let (stop_tx, stop_rx) = watch::channel(());
        let shared = Shared {
            targets,
            http,
            timeout,
            capacity: if queue_capacity == 0 { DEFAULT_QUEUE_CAPACITY } else { queue_capacity },
            runtime: Handle::try_current().ok(),
            stop: stop_rx,
            tenants: Mutex::new(HashMap::new()),
        };
        Ok(Notifier { shared: Some(Arc::new(shared)), _stop: Some(stop_tx) })
    }

    /// Whether any Alertmanager is configured.
    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// The POST URLs (also the `alertmanager` metric label), in config order.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.shared.as_ref().map(|s| s.targets.iter().map(|t| t.url.clone()).collect()).unwrap_or_default()
    }

    /// Queues `alerts` of `tenant` for every Alertmanager. Never blocks and
    /// never fails: when a queue is full its oldest alerts are dropped.
    pub fn send(&self, tenant: &str, alerts: Vec<NotifyAlert>) {
        let Some(shared) = &self.shared else { return };
        if alerts.is_empty() {
            return;
        }
        let loops = shared.loops_for(tenant);
        let alerts: Vec<Arc<NotifyAlert>> = alerts.into_iter().map(Arc::new).collect();
        for send_loop in loops.iter() {
            send_loop.add(&alerts, shared.capacity);
        }
    }

    /// Waits until every queue is empty and no POST is in flight. Each POST
    /// ends within the timeout, so this ends too unless alerts keep coming.
    pub async fn flush(&self) {
        let Some(shared) = &self.shared else { return };
        let loops: Vec<Arc<SendLoop>> = lock(&shared.tenants).values().flat_map(|l| l.iter().cloned()).collect();
        for send_loop in loops {
            send_loop.wait_idle().await;
        }
    }

    pub fn stats(&self) -> NotifierStats {
        let mut stats = NotifierStats::default();
        let Some(shared) = &self.shared else { return stats };
        for send_loop in lock(&shared.tenants).values().flat_map(|l| l.iter()) {
            stats.queued += lock(&send_loop.state).queue.len() as u64;
            stats.sent += send_loop.sent.load(Ordering::Relaxed);
            stats.errors += send_loop.errors.load(Ordering::Relaxed);
            stats.dropped += send_loop.dropped.load(Ordering::Relaxed);
        }
        stats
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("alertmanagers", &self.alertmanagers()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The tenant's send loops, one per Alertmanager, started on first use.
    fn loops_for(&self, tenant: &str) -> Arc<[Arc<SendLoop>]> {
        let mut tenants = lock(&self.tenants);
        if let Some(loops) = tenants.get(tenant) {
            return loops.clone();
        }
        let runtime = self.runtime.clone().or_else(|| Handle::try_current().ok());
        if runtime.is_none() {
            tracing::error!(tenant = %tenant, "alert notifier has no tokio runtime; alerts will not be sent");
        }
        let loops: Arc<[Arc<SendLoop>]> = self
            .targets
            .iter()
            .map(|target| {
                let send_loop = Arc::new(SendLoop::new(tenant, target.clone()));
                if let Some(rt) = &runtime {
                    lock(&send_loop.state).running = true;
                    let task = SendTask {
                        send_loop: send_loop.clone(),
                        http: self.http.clone(),
                        timeout: self.timeout,
                        stop: self.stop.clone(),
                    };
                    rt.spawn(task.run());
                }
                send_loop
            })
            .collect();
        let user = tenant.to_string();
        metrics::gauge!("loki_prometheus_notifications_queue_capacity", "user" => user.clone())
            .set(self.capacity as f64);
        metrics::gauge!("loki_prometheus_notifications_alertmanagers_discovered", "user" => user)
            .set(self.targets.len() as f64);
        tenants.insert(tenant.to_string(), loops.clone());
        loops
    }
}

impl SendLoop {
    fn new(tenant: &str, target: Arc<Target>) -> SendLoop {
        let labels = [("user", tenant.to_string()), ("alertmanager", target.url.clone())];
        let metrics = LoopMetrics {
            sent: metrics::counter!("loki_prometheus_notifications_sent_total", &labels),
            errors: metrics::counter!("loki_prometheus_notifications_errors_total", &labels),
            dropped: metrics::counter!("loki_prometheus_notifications_dropped_total", &labels),
            queue_length: metrics::gauge!("loki_prometheus_notifications_queue_length", &labels),
            latency: metrics::histogram!("loki_prometheus_notifications_latency_seconds", &labels),
            latency_histogram: metrics::histogram!("loki_prometheus_notifications_latency_histogram_seconds", &labels),
        };
        // Prometheus initializes the counters at 0.
        metrics.sent.increment(0);
        metrics.errors.increment(0);
        metrics.dropped.increment(0);
        metrics.queue_length.set(0.0);
        SendLoop {
            tenant: tenant.to_string(),
            target,
            state: Mutex::new(LoopState::default()),
            work: Notify::new(),
            idle: Notify::new(),
            metrics,
            sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Prometheus' `sendLoop.add`: newest alerts win when the queue is full.
    fn add(&self, alerts: &[Arc<NotifyAlert>], capacity: usize) {
        let mut new = alerts;
        let mut dropped = 0usize;
        if new.len() > capacity {
            dropped += new.len() - capacity;
            new = &new[new.len() - capacity..];
        }
        let mut state = lock(&self.state);
        let over = (state.queue.len() + new.len()).saturating_sub(capacity);
        if over > 0 {
            state.queue.drain(..over);
            dropped += over;
        }
        state.queue.extend(new.iter().cloned());
        self.metrics.queue_length.set(state.queue.len() as f64);
        drop(state);
        if dropped > 0 {
            tracing::warn!(
                tenant = %self.tenant,
                alertmanager = %self.target.url,
                count = dropped,
                "alert notification queue full, dropping alerts"
            );
            self.metrics.dropped.increment(dropped as u64);
            self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
        self.work.notify_one();
    }

    /// Takes the next batch, or marks the loop idle when there is none.
    fn next_batch(&self) -> Option<Vec<Arc<NotifyAlert>>> {
        let mut state = lock(&self.state);
        if state.queue.is_empty() {
            state.busy = false;
            drop(state);
            self.idle.notify_waiters();
            return None;
        }
        let n = state.queue.len().min(MAX_BATCH_SIZE);
        let batch: Vec<_> = state.queue.drain(..n).collect();
        state.busy = true;
        self.metrics.queue_length.set(state.queue.len() as f64);
        Some(batch)
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = lock(&self.state);
                if !state.running || (state.queue.is_empty() && !state.busy) {
                    return;
                }
            }
            notified.await;
        }
    }
}

struct SendTask {
    send_loop: Arc<SendLoop>,
    http: reqwest::Client,
    timeout: Duration,
    stop: watch::Receiver<()>,
}

impl SendTask {
    async fn run(self) {
        let SendTask { send_loop, http, timeout, mut stop } = self;
        loop {
            let batch = send_loop.next_batch();
            let stopped = match batch {
                None => tokio::select! {
                    _ = send_loop.work.notified() => false,
                    _ = stop.changed() => true,
                },
                Some(batch) => tokio::select! {
                    _ = send_loop.send_batch(&http, timeout, batch) => false,
                    _ = stop.changed() => true,
                },
            };
            if stopped {
                // The notifier is gone: nobody waits for this loop any more.
                let mut state = lock(&send_loop.state);
                state.running = false;
                state.busy = false;
                drop(state);
                send_loop.idle.notify_waiters();
                return;
            }
        }
    }
}

impl SendLoop {
    async fn send_batch(&self, http: &reqwest::Client, timeout: Duration, batch: Vec<Arc<NotifyAlert>>) {
        let count = batch.len();
        let body = encode_alerts(&batch);
        let begin = Instant::now();
        match post_alerts(http, &self.target, &self.tenant, body, timeout).await {
            Ok(()) => {
                let took = begin.elapsed().as_secs_f64();
                self.metrics.latency.record(took);
                self.metrics.latency_histogram.record(took);
                self.metrics.sent.increment(count as u64);
                self.sent.fetch_add(count as u64, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::error!(
                    tenant = %self.tenant,
                    alertmanager = %self.target.url,
                    count,
                    error = %error,
                    "error sending alerts"
                );
                self.metrics.errors.increment(count as u64);
                self.metrics.dropped.increment(count as u64);
                self.errors.fetch_add(count as u64, Ordering::Relaxed);
                self.dropped.fetch_add(count as u64, Ordering::Relaxed);
            }
        }
    }
}

async fn post_alerts(
    http: &reqwest::Client,
    target: &Target,
    tenant: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let mut req = http
        .post(&target.url)
        .timeout(timeout)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, USER_AGENT_VALUE);
    if !tenant.is_empty() {
        req = req.header(ORG_ID_HEADER, tenant);
    }
    if let Some((user, password)) = &target.basic {
        req = req.basic_auth(user, Some(password));
    } else if let Some(auth) = &target.authorization {
        req = req.header(AUTHORIZATION, auth.header_value().await?);
    }
    let resp = req.body(body).send().await.map_err(|e| error_chain(&e))?;
    let status = resp.status();
    let body = read_body_prefix(resp, MAX_ERROR_BODY).await;
    if status.is_success() { Ok(()) } else { Err(format!("bad response status {status}: {}", body.trim())) }
}

/// Reads up to `limit` bytes of a response body (the rest is discarded).
pub(crate) async fn read_body_prefix(mut resp: reqwest::Response, limit: usize) -> String {
    let mut out: Vec<u8> = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        if out.len() < limit {
            let take = chunk.len().min(limit - out.len());
            out.extend_from_slice(&chunk[..take]);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An error with its sources, `a: b: c`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Alertmanager's `postableAlert`, fields in the order Prometheus writes them.
#[derive(Serialize)]
struct PostableAlert<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
    labels: BTreeMap<&'a str, &'a str>,
}

/// The JSON body of `POST /api/v2/alerts`.
fn encode_alerts(alerts: &[Arc<NotifyAlert>]) -> Vec<u8> {
    let body: Vec<PostableAlert<'_>> = alerts
        .iter()
        .map(|a| PostableAlert {
            annotations: a.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            ends_at: a.ends_at_ms.map(rfc3339_millis),
            starts_at: rfc3339_millis(a.starts_at_ms),
            generator_url: &a.generator_url,
            labels: a.labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        })
        .collect();
    serde_json::to_vec(&body).expect("alerts encode")
}

/// go-openapi's `strfmt.DateTime` format (RFC 3339 with milliseconds), in UTC.
fn rfc3339_millis(ms: i64) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "0001-01-01T00:00:00.000Z".to_string(),
    }
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("loki_prometheus_notifications_sent_total", "Total number of alerts sent.");
    describe_counter!("loki_prometheus_notifications_errors_total", "Total number of sent alerts affected by errors.");
    describe_counter!(
        "loki_prometheus_notifications_dropped_total",
        "Total number of alerts dropped due to errors when sending to Alertmanager."
    );
    describe_gauge!("loki_prometheus_notifications_queue_length", "The number of alert notifications in the queue.");
    describe_gauge!("loki_prometheus_notifications_queue_capacity", "The capacity of the alert notifications queue.");
    describe_gauge!(
        "loki_prometheus_notifications_alertmanagers_discovered",
        "The number of alertmanagers discovered and active."
    );
    describe_histogram!(
        "loki_prometheus_notifications_latency_seconds",
        metrics::Unit::Seconds,
        "Latency quantiles for sending alert notifications."
    );
    describe_histogram!(
        "loki_prometheus_notifications_latency_histogram_seconds",
        metrics::Unit::Seconds,
        "Latency histogram for sending alert notifications."
    );
}

/// One `alertmanager_url` entry as Loki's `amConfigFromURL` reads it.
fn parse_target(raw: &str, client: &AlertmanagerClientConfig) -> Result<Target, String> {
    let shown = redact_user_info(raw);
    let url = reqwest::Url::parse(raw).map_err(|e| format!("ruler.alertmanager_url: invalid url {shown:?}: {e}"))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!("ruler.alertmanager_url: {shown:?}: unsupported scheme {other:?} (use http or https)"));
        }
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("ruler.alertmanager_url: {shown:?} has no host"))?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let post_url = format!("{}://{host}{port}{}", url.scheme(), join_path(url.path(), "api/v2/alerts"));

    let mut basic = None;
    if !url.username().is_empty() || url.password().is_some() {
        basic = Some((percent_decode(url.username()), percent_decode(url.password().unwrap_or(""))));
    }
    if client.basic_auth_enabled() {
        basic = Some((client.basic_auth_username.clone(), client.basic_auth_password.clone()));
    }
    let authorization = client.header_auth_enabled().then(|| Authorization {
        kind: if client.kind.trim().is_empty() { "Bearer".into() } else { client.kind.trim().to_string() },
        credentials: client.credentials.clone(),
        credentials_file: client.credentials_file.clone(),
    });
    Ok(Target { url: post_url, basic, authorization })
}

/// Go's `path.Join("/", prefix, suffix)`: one slash between segments, `.`
/// and `..` resolved, always absolute.
fn join_path(prefix: &str, suffix: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in prefix.split('/').chain(suffix.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `scheme://user:pass@host/...` → `scheme://***@host/...`, for messages.
fn redact_user_info(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else { return raw.to_string() };
    let authority_end = raw[start..].find(['/', '?', '#']).map_or(raw.len(), |i| start + i);
    match raw[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &raw[..start], &raw[start + at..]),
        None => raw.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Loki's `generatorURL` for an alert of the rule `expr`: a Grafana Explore
/// link, `external_url + "/explore?left=" + QueryEscape({"queries":[Q]})`,
/// where Q is `{"expr":…,"queryType":"range"}` plus `"datasource":{"type":
/// "loki","uid":…}` when `datasource_uid` is set [loki `pkg/ruler/base/ruler.go`
/// `grafanaLinkForExpression`]. Byte-for-byte Go's output: `encoding/json`'s
/// escaping (including `<`, `>`, `&` as `\u003c`…) and `url.QueryEscape`.
pub fn generator_url(external_url: &str, expr: &str, datasource_uid: &str) -> String {
    let mut query = String::from("{\"expr\":");
    go_json_string(&mut query, expr);
    query.push_str(",\"queryType\":\"range\"");
    if !datasource_uid.is_empty() {
        query.push_str(",\"datasource\":{\"type\":\"loki\",\"uid\":");
        go_json_string(&mut query, datasource_uid);
        query.push('}');
    }
    query.push('}');
    let left = format!("{{\"queries\":[{query}]}}");
    format!("{external_url}/explore?left={}", go_query_escape(&left))
}

/// Go's `encoding/json` string encoding with HTML escaping (the default of
/// `json.Marshal`).
fn go_json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let b = c as u32 as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `url.QueryEscape`: unreserved bytes (`A-Za-z0-9-_.~`) kept, space
/// as `+`, everything else `%XX` in upper case.
fn go_query_escape(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_shareable() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Notifier>();
    }

    #[test]
    fn generator_url_matches_go() {
        // Go's externalURL + grafanaLinkForExpression(expr, uid), reproduced independently
        // (json.dumps with <>& escaped, then urllib's quote_plus, which equals url.QueryEscape).
        assert_eq!(
            generator_url("http://grafana:3000", "sum(rate({app=\"a\"}[1m])) > 1", ""),
            "http://grafana:3000/explore?left=%7B%22queries%22%3A%5B%7B%22expr%22%3A%22sum%28rate%28%7Bapp%3D%5C%22a%5C%22%7D%5B1m%5D%29%29+%5Cu003e+1%22%2C%22queryType%22%3A%22range%22%7D%5D%7D"
        );
        assert_eq!(
            generator_url("", "count_over_time({a=\"b\"} |~ \"x&y\"[5m])", "P8E80F9AEF21F6940"),
            "/explore?left=%7B%22queries%22%3A%5B%7B%22expr%22%3A%22count_over_time%28%7Ba%3D%5C%22b%5C%22%7D+%7C~+%5C%22x%5Cu0026y%5C%22%5B5m%5D%29%22%2C%22queryType%22%3A%22range%22%2C%22datasource%22%3A%7B%22type%22%3A%22loki%22%2C%22uid%22%3A%22P8E80F9AEF21F6940%22%7D%7D%5D%7D"
        );
    }

    #[test]
    fn go_json_escapes_like_encoding_json() {
        let mut s = String::new();
        go_json_string(&mut s, "a\"b\\c\n\t\u{1}<>&\u{2028}é\u{7f}");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\t\\u0001\\u003c\\u003e\\u0026\\u2028é\u{7f}\"");
        assert_eq!(go_query_escape("a b~*/é"), "a+b~%2A%2F%C3%A9");
    }

    #[test]
    fn targets_follow_loki() {
        let cfg = AlertmanagerClientConfig::default();
        let t = parse_target("http://u%40x:p%3Aw@am:9093/prefix/", &cfg).unwrap();
        assert_eq!(t.url, "http://am:9093/prefix/api/v2/alerts");
        assert_eq!(t.basic, Some(("u@x".into(), "p:w".into())));
        let t = parse_target("http://am", &cfg).unwrap();
        assert_eq!(t.url, "http://am/api/v2/alerts");
        assert!(t.basic.is_none() && t.authorization.is_none());
        let over = AlertmanagerClientConfig {
            basic_auth_username: "cfg".into(),
            credentials: "tok".into(),
            ..Default::default()
        };
        let t = parse_target("http://u:p@[::1]:80/a/../b", &over).unwrap();
        assert_eq!(t.url, "http://[::1]/b/api/v2/alerts");
        assert_eq!(t.basic, Some(("cfg".into(), String::new())));
        assert_eq!(t.authorization.unwrap().kind, "Bearer");
        assert_eq!(parse_target("https://am:9093", &cfg).unwrap().url, "https://am:9093/api/v2/alerts");
        assert!(parse_target("am:9093", &cfg).is_err());
    }

    #[test]
    fn alerts_encode_like_prometheus() {
        let a = Arc::new(NotifyAlert {
            labels: vec![("b".into(), "2".into()), ("alertname".into(), "X".into()), ("empty".into(), String::new())],
            annotations: vec![],
            starts_at_ms: 1_700_000_000_123,
            ends_at_ms: Some(1_700_000_060_000),
            generator_url: String::new(),
        });
        let body = String::from_utf8(encode_alerts(&[a])).unwrap();
        assert_eq!(
            body,
            r#"[{"endsAt":"2023-11-14T22:14:20.000Z","startsAt":"2023-11-14T22:13:20.123Z","labels":{"alertname":"X","b":"2"}}]"#
        );
    }
}
