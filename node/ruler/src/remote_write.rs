//! Prometheus remote-write 1.0 client for recording-rule samples: what
//! Loki's ruler does with a per-tenant Prometheus agent WAL and Prometheus'
//! queue manager [loki `pkg/ruler/registry.go`; prometheus
//! `storage/remote/queue_manager.go`, `client.go` as vendored in loki@HEAD].
//!
//! - Every sample goes to every client of `ruler.remote_write.clients`. As in
//!   Loki (one WAL and queue manager per tenant), each tenant has its own
//!   queue per client, bounded by `queue_config.capacity` (the oldest
//!   samples are dropped when full: Balsa keeps no WAL), drained by its own
//!   task; so a tenant that is rate limited never delays another, and each
//!   request carries one tenant's samples with `X-Scope-OrgID: <tenant>`
//!   (when `add_org_id_header`; a configured `X-Scope-OrgID` header is
//!   always dropped, as Loki does).
//! - [`RemoteWriter::append`] never blocks: it only queues. A batch is sent
//!   when `max_samples_per_send` samples wait or `batch_send_deadline` after
//!   the first one arrived: a snappy (block format) `prometheus.WriteRequest`
//!   with one series per sample, labels sorted by name, empty ones left out.
//! - Connection errors, timeouts, 5xx and (with `retry_on_http_429`) 429
//!   are retried with backoff from `min_backoff` doubling to `max_backoff`
//!   (a `Retry-After` wins), for as long as it takes, as Prometheus does;
//!   `sample_age_limit` drops samples grown too old meanwhile. Any other
//!   status drops the batch (logged, counted as failed).
//!
//! Metrics are Prometheus' queue-manager metrics under Loki's names: Loki
//! registers them with the prefix `loki_ruler_wal_` and the label `tenant`
//! (`pkg/ruler/compat.go` `MetricsPrefix`, `registry.go`), Prometheus labels
//! them `remote_name` (Loki names each queue `<tenant>-rw-<client id>`) and
//! `url`: `loki_ruler_wal_prometheus_remote_storage_` + `samples_total`
//! (every attempt), `samples_failed_total`, `samples_retried_total`,
//! `samples_dropped_total{reason}` (`too_old` as Prometheus; `queue_full`
//! is Balsa's), `samples_pending`, `bytes_total`,
//! `sent_batch_duration_seconds`, `queue_highest_sent_timestamp_seconds`,
//! `shards`, `shard_capacity`, `max_samples_per_send`; and
//! `..._samples_in_total{tenant}` for every sample appended.

mod config;
pub mod proto;

pub use config::{
    AuthorizationConfig, BasicAuthConfig, QueueConfig, RemoteWriteClientConfig, RemoteWriteConfig, WRITE_V1_MESSAGE,
    WRITE_V2_MESSAGE,
};

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use metrics::{Counter, Gauge, Histogram};
use prost::Message as _;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use tokio::runtime::Handle;
use tokio::sync::{Notify, watch};

use crate::notifier::{
    Authorization, MAX_ERROR_BODY, ORG_ID_HEADER, USER_AGENT_VALUE, error_chain, read_body_prefix, read_secret_file,
};

/// `X-Prometheus-Remote-Write-Version` of remote write 1.0.
pub const REMOTE_WRITE_VERSION: &str = "0.1.0";
const METRIC_PREFIX: &str = "loki_ruler_wal_prometheus_remote_storage_";

/// One recorded sample.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedSample {
    /// The series, `__name__` included; sorted and cleaned when sent.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub ts_ms: i64,
}

/// Totals over every tenant and client since start (the metrics' numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteWriteStats {
    /// Samples queued or in flight now.
    pub pending: u64,
    /// Samples a receiver accepted.
    pub sent: u64,
    /// Samples dropped after a non-retryable answer.
    pub failed: u64,
    /// Sample sends retried (a batch of n retried twice counts 2n).
    pub retried: u64,
    /// Samples dropped unsent: queue overflow or `sample_age_limit`.
    pub dropped: u64,
    /// Successful requests.
    pub requests: u64,
}

/// Sends recorded samples to the configured remote-write clients. Dropping
/// it stops the background tasks (queued samples are lost: call
/// [`RemoteWriter::flush`] first).
pub struct RemoteWriter {
    shared: Option<Arc<Shared>>,
    _stop: Option<watch::Sender<()>>,
}

struct Shared {
    clients: Vec<Arc<Client>>,
    add_org_id_header: bool,
    runtime: Option<Handle>,
    stop: watch::Receiver<()>,
    tenants: Mutex<HashMap<String, Arc<[Arc<Queue>]>>>,
    /// Flushes under way: batches go out without waiting for the deadline.
    flushing: Arc<AtomicUsize>,
}

/// One configured client.
struct Client {
    id: String,
    url: String,
    http: reqwest::Client,
    timeout: Duration,
    capacity: usize,
    max_samples_per_send: usize,
    batch_send_deadline: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    retry_on_http_429: bool,
    sample_age_limit: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    auth: Auth,
}

enum Auth {
    None,
    Basic { username: String, username_file: String, password: String, password_file: String },
    Header(Authorization),
}

/// One tenant's queue for one client, drained by one task.
struct Queue {
    tenant: String,
    remote_name: String,
    client: Arc<Client>,
    org_id: Option<HeaderValue>,
    state: Mutex<QueueState>,
    /// Woken when samples are queued or a flush starts.
    work: Notify,
    /// Woken when nothing is queued or in flight.
    idle: Notify,
    metrics: QueueMetrics,
    highest_sent_ms: AtomicI64,
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    requests: AtomicU64,
}

#[derive(Default)]
struct QueueState {
    samples: VecDeque<RecordedSample>,
    in_flight: usize,
    /// A task drains this queue (false only when no tokio runtime was found).
    running: bool,
}

struct QueueMetrics {
    samples: Counter,
    failed: Counter,
    retried: Counter,
    dropped_queue_full: Counter,
    dropped_too_old: Counter,
    bytes: Counter,
    pending: Gauge,
    highest_sent: Gauge,
    batch_duration: Histogram,
}

impl RemoteWriter {
    /// Checks `cfg` and builds one HTTP client per remote-write client. Does
    /// nothing (and [`RemoteWriter::append`] drops samples) when remote write
    /// is off or has no client. Background tasks run on the tokio runtime
    /// current here, or else on the one current at the first append.
    pub fn new(cfg: &RemoteWriteConfig) -> Result<RemoteWriter, String> {
        if !cfg.enabled || cfg.clients.is_empty() {
            return Ok(RemoteWriter { shared: None, _stop: None });
        }
        cfg.validate()?;
        let mut clients = Vec::with_capacity(cfg.clients.len());
        for (id, client) in &cfg.clients {
            clients
                .push(Arc::new(Client::build(id, client).map_err(|e| format!("ruler.remote_write.clients.{id}.{e}"))?));
        }
        describe_metrics();
        let (stop_tx, stop_rx) = watch::channel(());
        let shared = Shared {
            clients,
            add_org_id_header: cfg.add_org_id_header,
            runtime: Handle::try_current().ok(),
            stop: stop_rx,
            tenants: Mutex::new(HashMap::new()),
            flushing: Arc::new(AtomicUsize::new(0)),
        };
        Ok(RemoteWriter { shared: Some(Arc::new(shared)), _stop: Some(stop_tx) })
    }

    /// Whether samples are sent anywhere.
    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Queues `samples` of `tenant` for every client. Never blocks and never
    /// fails: when a queue is full its oldest samples are dropped.
    pub fn append(&self, tenant: &str, samples: Vec<RecordedSample>) {
        let Some(shared) = &self.shared else { return };
        if samples.is_empty() {
            return;
        }
        metrics::counter!(format!("{METRIC_PREFIX}samples_in_total"), "tenant" => tenant.to_string())
            .increment(samples.len() as u64);
        let queues = shared.queues_for(tenant);
        let mut samples = Some(samples);
        for (i, queue) in queues.iter().enumerate() {
            let batch = if i + 1 == queues.len() {
                samples.take().unwrap_or_default()
            } else {
                samples.clone().unwrap_or_default()
            };
            queue.push(batch);
        }
    }

    /// Sends what is queued now without waiting for `batch_send_deadline`
    /// and waits until nothing is queued or in flight. Retries go on while a
    /// receiver fails, so bound this with a timeout at shutdown.
    pub async fn flush(&self) {
        let Some(shared) = &self.shared else { return };
        struct Flushing(Arc<AtomicUsize>);
        impl Drop for Flushing {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        shared.flushing.fetch_add(1, Ordering::SeqCst);
        let _flushing = Flushing(shared.flushing.clone());
        let queues: Vec<Arc<Queue>> = lock(&shared.tenants).values().flat_map(|q| q.iter().cloned()).collect();
        for queue in &queues {
            queue.work.notify_one();
        }
        for queue in &queues {
            queue.wait_idle().await;
        }
    }

    pub fn stats(&self) -> RemoteWriteStats {
        let mut stats = RemoteWriteStats::default();
        let Some(shared) = &self.shared else { return stats };
        for q in lock(&shared.tenants).values().flat_map(|q| q.iter()) {
            {
                let state = lock(&q.state);
                stats.pending += (state.samples.len() + state.in_flight) as u64;
            }
            stats.sent += q.sent.load(Ordering::Relaxed);
            stats.failed += q.failed.load(Ordering::Relaxed);
            stats.retried += q.retried.load(Ordering::Relaxed);
            stats.dropped += q.dropped.load(Ordering::Relaxed);
            stats.requests += q.requests.load(Ordering::Relaxed);
        }
        stats
    }
}

impl std::fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> =
            self.shared.as_ref().map(|s| s.clients.iter().map(|c| c.url.as_str()).collect()).unwrap_or_default();
        f.debug_struct("RemoteWriter").field("clients", &urls).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Client {
    /// Errors start with the key relative to the client.
    fn build(id: &str, cfg: &RemoteWriteClientConfig) -> Result<Client, String> {
        reqwest::Url::parse(&cfg.url).map_err(|e| format!("url: invalid url: {e}"))?;
        let mut builder = reqwest::Client::builder().redirect(if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        });
        if !cfg.proxy_url.is_empty() {
            let proxy_url = reqwest::Url::parse(&cfg.proxy_url).map_err(|e| format!("proxy_url: invalid url: {e}"))?;
            if proxy_url.scheme() != "http" {
                return Err(format!(
                    "proxy_url: unsupported proxy scheme {:?} (this build supports http proxies only)",
                    proxy_url.scheme()
                ));
            }
            let proxy = reqwest::Proxy::all(proxy_url)
                .map_err(|e| format!("proxy_url: {e}"))?
                .no_proxy(reqwest::NoProxy::from_string(&cfg.no_proxy));
            builder = builder.proxy(proxy);
        } else if !cfg.proxy_from_environment {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| format!("url: cannot build http client: {e}"))?;

        let mut headers = Vec::new();
        for (name, value) in &cfg.headers {
            if name.trim().eq_ignore_ascii_case(ORG_ID_HEADER) {
                continue;
            }
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("headers: invalid header name {name:?}"))?;
            let value =
                HeaderValue::from_str(value).map_err(|_| format!("headers: invalid value for header {name:?}"))?;
            headers.push((name, value));
        }

        let auth = if let Some(b) = &cfg.basic_auth {
            Auth::Basic {
                username: b.username.clone(),
                username_file: b.username_file.clone(),
                password: b.password.clone(),
                password_file: b.password_file.clone(),
            }
        } else if let Some(a) = &cfg.authorization {
            Auth::Header(Authorization {
                kind: if a.kind.trim().is_empty() { "Bearer".into() } else { a.kind.trim().to_string() },
                credentials: a.credentials.clone(),
                credentials_file: a.credentials_file.clone(),
            })
        } else if !cfg.bearer_token.is_empty() || !cfg.bearer_token_file.is_empty() {
            Auth::Header(Authorization {
                kind: "Bearer".into(),
                credentials: cfg.bearer_token.clone(),
                credentials_file: cfg.bearer_token_file.clone(),
            })
        } else {
            Auth::None
        };

        let q = &cfg.queue_config;
        Ok(Client {
            id: id.to_string(),
            url: cfg.url.clone(),
            http,
            timeout: cfg.remote_timeout.0,
            capacity: q.capacity.max(1),
            max_samples_per_send: q.max_samples_per_send.max(1),
            batch_send_deadline: q.batch_send_deadline.0,
            min_backoff: q.min_backoff.0,
            max_backoff: q.max_backoff.0,
            retry_on_http_429: q.retry_on_http_429,
            sample_age_limit: q.sample_age_limit.0,
            headers,
            auth,
        })
    }
}

impl Shared {
    /// The tenant's queues, one per client, started on first use.
    fn queues_for(&self, tenant: &str) -> Arc<[Arc<Queue>]> {
        let mut tenants = lock(&self.tenants);
        if let Some(queues) = tenants.get(tenant) {
            return queues.clone();
        }
        let runtime = self.runtime.clone().or_else(|| Handle::try_current().ok());
        if runtime.is_none() {
            tracing::error!(tenant = %tenant, "remote writer has no tokio runtime; samples will not be sent");
        }
        let org_id =
            if self.add_org_id_header && !tenant.is_empty() { HeaderValue::from_str(tenant).ok() } else { None };
        let queues: Arc<[Arc<Queue>]> = self
            .clients
            .iter()
            .map(|client| {
                let queue = Arc::new(Queue::new(tenant, client.clone(), org_id.clone()));
                if let Some(rt) = &runtime {
                    lock(&queue.state).running = true;
                    let task =
                        QueueTask { queue: queue.clone(), stop: self.stop.clone(), flushing: self.flushing.clone() };
                    rt.spawn(task.run());
                }
                queue
            })
            .collect();
        tenants.insert(tenant.to_string(), queues.clone());
        queues
    }
}

impl Queue {
    fn new(tenant: &str, client: Arc<Client>, org_id: Option<HeaderValue>) -> Queue {
        let remote_name = format!("{tenant}-rw-{}", client.id);
        let labels =
            [("tenant", tenant.to_string()), ("remote_name", remote_name.clone()), ("url", client.url.clone())];
        let dropped = |reason: &'static str| {
            let mut l: Vec<(&'static str, String)> = labels.to_vec();
            l.push(("reason", reason.to_string()));
            metrics::counter!(format!("{METRIC_PREFIX}samples_dropped_total"), &l)
        };
        let m = QueueMetrics {
            samples: metrics::counter!(format!("{METRIC_PREFIX}samples_total"), &labels),
            failed: metrics::counter!(format!("{METRIC_PREFIX}samples_failed_total"), &labels),
            retried: metrics::counter!(format!("{METRIC_PREFIX}samples_retried_total"), &labels),
            dropped_queue_full: dropped("queue_full"),
            dropped_too_old: dropped("too_old"),
            bytes: metrics::counter!(format!("{METRIC_PREFIX}bytes_total"), &labels),
            pending: metrics::gauge!(format!("{METRIC_PREFIX}samples_pending"), &labels),
            highest_sent: metrics::gauge!(format!("{METRIC_PREFIX}queue_highest_sent_timestamp_seconds"), &labels),
            batch_duration: metrics::histogram!(format!("{METRIC_PREFIX}sent_batch_duration_seconds"), &labels),
        };
        for c in [&m.samples, &m.failed, &m.retried, &m.bytes] {
            c.increment(0);
        }
        m.pending.set(0.0);
        metrics::gauge!(format!("{METRIC_PREFIX}shards"), &labels).set(1.0);
        metrics::gauge!(format!("{METRIC_PREFIX}shard_capacity"), &labels).set(client.capacity as f64);
        metrics::gauge!(format!("{METRIC_PREFIX}max_samples_per_send"), &labels)
            .set(client.max_samples_per_send as f64);
        Queue {
            tenant: tenant.to_string(),
            remote_name,
            client,
            org_id,
            state: Mutex::new(QueueState::default()),
            work: Notify::new(),
            idle: Notify::new(),
            metrics: m,
            highest_sent_ms: AtomicI64::new(i64::MIN),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    fn push(&self, mut samples: Vec<RecordedSample>) {
        let capacity = self.client.capacity;
        let mut dropped = 0usize;
        if samples.len() > capacity {
            dropped += samples.len() - capacity;
            samples.drain(..samples.len() - capacity);
        }
        let mut state = lock(&self.state);
        let over = (state.samples.len() + samples.len()).saturating_sub(capacity);
        if over > 0 {
            state.samples.drain(..over);
            dropped += over;
        }
        state.samples.extend(samples);
        self.metrics.pending.set((state.samples.len() + state.in_flight) as f64);
        drop(state);
        if dropped > 0 {
            tracing::warn!(
                tenant = %self.tenant,
                remote_name = %self.remote_name,
                url = %self.client.url,
                count = dropped,
                "remote-write queue full, dropping oldest samples"
            );
            self.metrics.dropped_queue_full.increment(dropped as u64);
            self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
        self.work.notify_one();
    }

    fn queued(&self) -> usize {
        lock(&self.state).samples.len()
    }

    fn take_batch(&self) -> Vec<RecordedSample> {
        let mut state = lock(&self.state);
        let n = state.samples.len().min(self.client.max_samples_per_send);
        let batch: Vec<RecordedSample> = state.samples.drain(..n).collect();
        state.in_flight = batch.len();
        batch
    }

    fn batch_done(&self) {
        let mut state = lock(&self.state);
        state.in_flight = 0;
        self.metrics.pending.set(state.samples.len() as f64);
        let idle = state.samples.is_empty();
        drop(state);
        if idle {
            self.idle.notify_waiters();
        }
    }

    fn set_in_flight(&self, n: usize) {
        let mut state = lock(&self.state);
        state.in_flight = n;
        self.metrics.pending.set((state.samples.len() + n) as f64);
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = lock(&self.state);
                if !state.running || (state.samples.is_empty() && state.in_flight == 0) {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Drops samples older than `sample_age_limit`; returns how many.
    fn drop_too_old(&self, batch: &mut Vec<RecordedSample>) -> usize {
        let limit = self.client.sample_age_limit;
        if limit.is_zero() {
            return 0;
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let cutoff = now_ms.saturating_sub(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX));
        let before = batch.len();
        batch.retain(|s| s.ts_ms >= cutoff);
        let dropped = before - batch.len();
        if dropped > 0 {
            self.metrics.dropped_too_old.increment(dropped as u64);
            self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
            self.set_in_flight(batch.len());
        }
        dropped
    }

    /// Sends one batch, retrying recoverable errors until it is sent, refused
    /// or too old.
    async fn send_batch(&self, mut batch: Vec<RecordedSample>) {
        self.drop_too_old(&mut batch);
        if batch.is_empty() {
            return;
        }
        let client = &self.client;
        let mut body = Bytes::from(encode_write_request(&batch));
        let mut backoff = client.min_backoff;
        let mut attempt: u32 = 0;
        loop {
            let count = batch.len() as u64;
            self.metrics.samples.increment(count);
            let begin = Instant::now();
            let result = self.store(body.clone(), attempt).await;
            self.metrics.batch_duration.record(begin.elapsed().as_secs_f64());
            match result {
                Ok(()) => {
                    self.metrics.bytes.increment(body.len() as u64);
                    self.sent.fetch_add(count, Ordering::Relaxed);
                    self.requests.fetch_add(1, Ordering::Relaxed);
                    let highest = batch.iter().map(|s| s.ts_ms).max().unwrap_or(i64::MIN);
                    let previous = self.highest_sent_ms.fetch_max(highest, Ordering::Relaxed);
                    if highest > previous {
                        self.metrics.highest_sent.set(highest as f64 / 1000.0);
                    }
                    return;
                }
                Err(StoreError::Fatal(error)) => {
                    tracing::error!(
                        tenant = %self.tenant,
                        remote_name = %self.remote_name,
                        url = %client.url,
                        count,
                        error = %error,
                        "non-recoverable error sending samples; dropping them"
                    );
                    self.metrics.bytes.increment(body.len() as u64);
                    self.metrics.failed.increment(count);
                    self.failed.fetch_add(count, Ordering::Relaxed);
                    return;
                }
                Err(StoreError::Recoverable { error, retry_after }) => {
                    let sleep = retry_after.unwrap_or(backoff).max(Duration::from_millis(1));
                    tracing::warn!(
                        tenant = %self.tenant,
                        remote_name = %self.remote_name,
                        url = %client.url,
                        count,
                        attempt,
                        retry_in_ms = sleep.as_millis() as u64,
                        error = %error,
                        "failed to send batch, retrying"
                    );
                    tokio::time::sleep(sleep).await;
                    self.metrics.retried.increment(count);
                    self.retried.fetch_add(count, Ordering::Relaxed);
                    backoff = (sleep * 2).min(client.max_backoff.max(Duration::from_millis(1)));
                    attempt = attempt.saturating_add(1);
                    if self.drop_too_old(&mut batch) > 0 {
                        if batch.is_empty() {
                            return;
                        }
                        body = Bytes::from(encode_write_request(&batch));
                    }
                }
            }
        }
    }

    /// One POST, Prometheus' `Client.Store`.
    async fn store(&self, body: Bytes, attempt: u32) -> Result<(), StoreError> {
        let client = &self.client;
        let mut req = client
            .http
            .post(&client.url)
            .timeout(client.timeout)
            .header(CONTENT_ENCODING, "snappy")
            .header(CONTENT_TYPE, "application/x-protobuf")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header("X-Prometheus-Remote-Write-Version", REMOTE_WRITE_VERSION);
        if attempt > 0 {
            req = req.header("Retry-Attempt", attempt.to_string());
        }
        for (name, value) in &client.headers {
            req = req.header(name.clone(), value.clone());
        }
        if let Some(org_id) = &self.org_id {
            req = req.header(ORG_ID_HEADER, org_id.clone());
        }
        let recoverable = |error: String| StoreError::Recoverable { error, retry_after: None };
        match &client.auth {
            Auth::None => {}
            Auth::Basic { username, username_file, password, password_file } => {
                let user = if username_file.is_empty() {
                    username.clone()
                } else {
                    read_secret_file(username_file).await.map_err(recoverable)?
                };
                let pass = if password_file.is_empty() {
                    password.clone()
                } else {
                    read_secret_file(password_file).await.map_err(recoverable)?
                };
                req = req.basic_auth(user, Some(pass));
            }
            Auth::Header(auth) => {
                req = req.header(AUTHORIZATION, auth.header_value().await.map_err(recoverable)?);
            }
        }
        let resp = match req.body(body).send().await {
            Ok(resp) => resp,
            Err(e) if e.is_builder() => return Err(StoreError::Fatal(error_chain(&e))),
            Err(e) => return Err(recoverable(error_chain(&e))),
        };
        let status = resp.status();
        let retry_after =
            resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let text = read_body_prefix(resp, MAX_ERROR_BODY).await;
        if status.is_success() {
            return Ok(());
        }
        let error = format!("server returned http status {status}: {}", text.trim());
        if status.is_server_error() || (client.retry_on_http_429 && status == reqwest::StatusCode::TOO_MANY_REQUESTS) {
            Err(StoreError::Recoverable { error, retry_after })
        } else {
            Err(StoreError::Fatal(error))
        }
    }
}

enum StoreError {
    Recoverable { error: String, retry_after: Option<Duration> },
    Fatal(String),
}

/// `Retry-After` as seconds or an HTTP date; `None` when absent, bad or past.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return (secs > 0).then(|| Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

struct QueueTask {
    queue: Arc<Queue>,
    stop: watch::Receiver<()>,
    flushing: Arc<AtomicUsize>,
}

impl QueueTask {
    async fn run(mut self) {
        self.serve().await;
        // The writer is gone: nobody waits for this queue any more.
        let mut state = lock(&self.queue.state);
        state.running = false;
        state.in_flight = 0;
        drop(state);
        self.queue.idle.notify_waiters();
    }

    /// Returns when the writer is dropped.
    async fn serve(&mut self) {
        let queue = self.queue.clone();
        let client = queue.client.clone();
        loop {
            // Wait for a first sample.
            while queue.queued() == 0 {
                tokio::select! {
                    _ = queue.work.notified() => {}
                    _ = self.stop.changed() => return,
                }
            }
            // Wait until the batch is full, its deadline passes, or a flush asks.
            let deadline = tokio::time::Instant::now() + client.batch_send_deadline;
            while queue.queued() < client.max_samples_per_send
                && self.flushing.load(Ordering::SeqCst) == 0
                && tokio::time::Instant::now() < deadline
            {
                tokio::select! {
                    _ = queue.work.notified() => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = self.stop.changed() => return,
                }
            }
            let batch = queue.take_batch();
            tokio::select! {
                _ = queue.send_batch(batch) => {}
                _ = self.stop.changed() => return,
            }
            queue.batch_done();
        }
    }
}

/// The snappy-compressed (block format) `prometheus.WriteRequest` of a
/// batch: one series per sample; labels with an empty name or value left
/// out, sorted by name, the last of a repeated name kept.
pub fn encode_write_request(samples: &[RecordedSample]) -> Vec<u8> {
    let request = proto::WriteRequest {
        timeseries: samples
            .iter()
            .map(|s| proto::TimeSeries {
                labels: normalize_labels(&s.labels),
                samples: vec![proto::Sample { value: s.value, timestamp: s.ts_ms }],
            })
            .collect(),
    };
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("snappy block compression cannot fail")
}

fn normalize_labels(labels: &[(String, String)]) -> Vec<proto::Label> {
    let mut kept: Vec<&(String, String)> = labels.iter().filter(|(n, v)| !n.is_empty() && !v.is_empty()).collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<proto::Label> = Vec::with_capacity(kept.len());
    for (name, value) in kept {
        match out.last_mut() {
            Some(last) if last.name == *name => last.value.clone_from(value),
            _ => out.push(proto::Label { name: name.clone(), value: value.clone() }),
        }
    }
    out
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    let p = METRIC_PREFIX;
    describe_counter!(
        format!("{p}samples_in_total"),
        "Samples in to remote storage, compare to samples out for queue managers."
    );
    describe_counter!(format!("{p}samples_total"), "Total number of samples sent to remote storage.");
    describe_counter!(
        format!("{p}samples_failed_total"),
        "Total number of samples which failed on send to remote storage, non-recoverable errors."
    );
    describe_counter!(
        format!("{p}samples_retried_total"),
        "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable."
    );
    describe_counter!(
        format!("{p}samples_dropped_total"),
        "Total number of samples which were dropped before being sent via remote write (queue full, or older than sample_age_limit)."
    );
    describe_counter!(
        format!("{p}bytes_total"),
        "The total number of bytes of data (not metadata) sent by the queue after compression."
    );
    describe_gauge!(
        format!("{p}samples_pending"),
        "The number of samples pending in the queues shards to be sent to the remote storage."
    );
    describe_gauge!(
        format!("{p}queue_highest_sent_timestamp_seconds"),
        "Timestamp from a sample, the highest timestamp successfully sent by this queue, in seconds since epoch."
    );
    describe_gauge!(format!("{p}shards"), "The number of shards used for parallel sending to the remote storage.");
    describe_gauge!(
        format!("{p}shard_capacity"),
        "The capacity of each shard of the queue used for parallel sending to the remote storage."
    );
    describe_gauge!(
        format!("{p}max_samples_per_send"),
        "The maximum number of samples to be sent, in a single request, to the remote storage."
    );
    describe_histogram!(
        format!("{p}sent_batch_duration_seconds"),
        metrics::Unit::Seconds,
        "Duration of send calls to the remote storage."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_shareable() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<RemoteWriter>();
    }

    fn sample(labels: &[(&str, &str)], value: f64, ts_ms: i64) -> RecordedSample {
        RecordedSample { labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), value, ts_ms }
    }

    #[test]
    fn encodes_sorted_clean_labels() {
        let body = encode_write_request(&[sample(
            &[("job", "x"), ("__name__", "m"), ("empty", ""), ("a", "1"), ("a", "2")],
            1.5,
            1000,
        )]);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let req = proto::WriteRequest::decode(raw.as_slice()).unwrap();
        let names: Vec<(&str, &str)> =
            req.timeseries[0].labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(names, vec![("__name__", "m"), ("a", "2"), ("job", "x")]);
        assert_eq!(req.timeseries[0].samples, vec![proto::Sample { value: 1.5, timestamp: 1000 }]);
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        let later = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc2822();
        assert!(parse_retry_after(&later).unwrap() > Duration::from_secs(50));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn disabled_or_clientless_is_a_no_op() {
        let w = RemoteWriter::new(&RemoteWriteConfig::default()).unwrap();
        assert!(!w.enabled());
        w.append("t", vec![sample(&[("__name__", "m")], 1.0, 1)]);
        assert_eq!(w.stats(), RemoteWriteStats::default());
        let https = RemoteWriteConfig {
            enabled: true,
            clients: [(
                "p".to_string(),
                RemoteWriteClientConfig { url: "https://p/api/v1/write".into(), ..Default::default() },
            )]
            .into(),
            ..Default::default()
        };
        assert!(RemoteWriter::new(&https).unwrap().enabled(), "https urls are accepted (system roots)");
    }
}
