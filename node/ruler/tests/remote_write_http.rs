//! The remote-write client against in-process HTTP servers (mocks; tests with
//! a real Prometheus live elsewhere).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use balsa_model::units::Duration as ConfigDuration;
use balsa_ruler::remote_write::proto::{Label, Sample, WriteRequest};
use balsa_ruler::remote_write::{
    BasicAuthConfig, QueueConfig, RecordedSample, RemoteWriteClientConfig, RemoteWriteConfig, RemoteWriter,
};
use prost::Message;
use tokio::sync::Semaphore;

/// (status, Retry-After) to answer.
type Answer = (u16, Option<&'static str>);

#[derive(Clone)]
struct Mock {
    requests: Arc<Mutex<Vec<Request>>>,
    /// Answers to give, in order (status, Retry-After); then 204.
    answers: Arc<Mutex<VecDeque<Answer>>>,
    /// Every request takes a permit before it is answered.
    gate: Arc<Semaphore>,
}

#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    fn decode(&self) -> WriteRequest {
        let raw = snap::raw::Decoder::new().decompress_vec(&self.body).expect("snappy block format");
        WriteRequest::decode(raw.as_slice()).expect("prometheus.WriteRequest")
    }
    /// The samples as (name, value) pairs.
    fn values(&self) -> Vec<(String, f64)> {
        self.decode()
            .timeseries
            .iter()
            .map(|ts| (ts.labels.iter().find(|l| l.name == "__name__").unwrap().value.clone(), ts.samples[0].value))
            .collect()
    }
}

impl Mock {
    fn new(open: bool) -> Mock {
        Mock {
            requests: Arc::default(),
            answers: Arc::default(),
            gate: Arc::new(Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 })),
        }
    }
    fn answer(&self, status: u16, retry_after: Option<&'static str>) -> &Self {
        self.answers.lock().unwrap().push_back((status, retry_after));
        self
    }
    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
    async fn wait_requests(&self, n: usize) {
        let start = Instant::now();
        while self.requests.lock().unwrap().len() < n {
            assert!(start.elapsed() < Duration::from_secs(5), "waited for {n} requests");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn record(State(mock): State<Mock>, uri: Uri, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    mock.requests.lock().unwrap().push(Request { path: uri.path().to_string(), headers, body, at: Instant::now() });
    mock.gate.acquire().await.unwrap().forget();
    let (status, retry_after) = mock.answers.lock().unwrap().pop_front().unwrap_or((204, None));
    let mut headers = HeaderMap::new();
    if let Some(v) = retry_after {
        headers.insert("retry-after", v.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), headers, "answer body")
}

async fn serve(mock: Mock) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(record).with_state(mock);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

fn client(addr: &str) -> RemoteWriteClientConfig {
    RemoteWriteClientConfig {
        url: format!("http://{addr}/api/v1/write"),
        queue_config: QueueConfig {
            min_backoff: ConfigDuration::from_millis(10),
            max_backoff: ConfigDuration::from_millis(40),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn config(clients: Vec<(&str, RemoteWriteClientConfig)>) -> RemoteWriteConfig {
    RemoteWriteConfig {
        enabled: true,
        clients: clients.into_iter().map(|(id, c)| (id.to_string(), c)).collect(),
        ..Default::default()
    }
}

fn sample(name: &str, value: f64) -> RecordedSample {
    RecordedSample {
        labels: vec![
            ("job".into(), "loki".into()),
            ("__name__".into(), name.into()),
            ("cluster".into(), "eu".into()),
            ("empty".into(), String::new()),
        ],
        value,
        ts_ms: chrono::Utc::now().timestamp_millis(),
    }
}

async fn flush(w: &RemoteWriter) {
    tokio::time::timeout(Duration::from_secs(10), w.flush()).await.expect("flush");
}

#[tokio::test]
async fn sends_a_snappy_protobuf_with_sorted_labels_and_the_headers() {
    let mock = Mock::new(true);
    let addr = serve(mock.clone()).await;
    let mut c = client(&addr);
    c.headers = BTreeMap::from([
        ("X-Custom".to_string(), "yes".to_string()),
        (" x-scope-orgid".to_string(), "someone-else".to_string()),
    ]);
    c.basic_auth = Some(BasicAuthConfig { username: "u".into(), password: "p".into(), ..Default::default() });
    let w = RemoteWriter::new(&config(vec![("prom", c)])).unwrap();

    let s = sample("job:lines:rate1m", 2.5);
    w.append("tenant-a", vec![s.clone(), sample("other", 1.0)]);
    flush(&w).await;

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/api/v1/write");
    assert_eq!(r.header("content-encoding"), Some("snappy"));
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("x-prometheus-remote-write-version"), Some("0.1.0"));
    assert!(r.header("user-agent").unwrap().starts_with("Balsa/"));
    assert_eq!(r.header("x-custom"), Some("yes"));
    assert_eq!(r.headers.get_all("x-scope-orgid").iter().collect::<Vec<_>>(), vec!["tenant-a"]);
    assert_eq!(r.header("authorization"), Some("Basic dTpw"));
    assert_eq!(r.header("retry-attempt"), None);
    let req = r.decode();
    assert_eq!(req.timeseries.len(), 2);
    let label = |n: &str, v: &str| Label { name: n.into(), value: v.into() };
    assert_eq!(
        req.timeseries[0].labels,
        vec![label("__name__", "job:lines:rate1m"), label("cluster", "eu"), label("job", "loki")]
    );
    assert_eq!(req.timeseries[0].samples, vec![Sample { value: 2.5, timestamp: s.ts_ms }]);
    let stats = w.stats();
    assert_eq!((stats.sent, stats.requests, stats.pending), (2, 1, 0));
}

#[tokio::test]
async fn batches_by_size_then_by_deadline() {
    let mock = Mock::new(true);
    let addr = serve(mock.clone()).await;
    let mut c = client(&addr);
    c.queue_config.max_samples_per_send = 2;
    c.queue_config.batch_send_deadline = ConfigDuration::from_millis(500);
    let w = RemoteWriter::new(&config(vec![("prom", c)])).unwrap();

    let start = Instant::now();
    w.append("t", (0..5).map(|i| sample("m", i as f64)).collect());
    mock.wait_requests(3).await;
    let reqs = mock.requests();
    let sizes: Vec<usize> = reqs.iter().map(|r| r.decode().timeseries.len()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    assert!(reqs[1].at - start < Duration::from_millis(400), "full batches go at once");
    assert!(reqs[2].at - start >= Duration::from_millis(490), "the partial batch waits for the deadline");
    let values: Vec<f64> = reqs.iter().flat_map(|r| r.values()).map(|(_, v)| v).collect();
    assert_eq!(values, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
}

#[tokio::test]
async fn retries_a_500_then_succeeds() {
    let mock = Mock::new(true);
    mock.answer(500, None).answer(503, None);
    let addr = serve(mock.clone()).await;
    let w = RemoteWriter::new(&config(vec![("prom", client(&addr))])).unwrap();
    w.append("t", vec![sample("a", 1.0), sample("b", 2.0)]);
    flush(&w).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    let attempts: Vec<Option<&str>> = reqs.iter().map(|r| r.header("retry-attempt")).collect();
    assert_eq!(attempts, vec![None, Some("1"), Some("2")]);
    assert!(reqs.iter().all(|r| r.body == reqs[0].body));
    // Backoff 10ms, then 20ms.
    assert!(reqs[2].at - reqs[0].at >= Duration::from_millis(30));
    let stats = w.stats();
    assert_eq!((stats.sent, stats.retried, stats.failed, stats.requests), (2, 4, 0, 1));
}

#[tokio::test]
async fn does_not_retry_a_400() {
    let mock = Mock::new(true);
    mock.answer(400, None);
    let addr = serve(mock.clone()).await;
    let w = RemoteWriter::new(&config(vec![("prom", client(&addr))])).unwrap();
    w.append("t", vec![sample("a", 1.0), sample("b", 2.0)]);
    flush(&w).await;
    assert_eq!(mock.requests().len(), 1);
    let stats = w.stats();
    assert_eq!((stats.sent, stats.failed, stats.retried), (0, 2, 0));
    // The queue goes on with the next samples.
    w.append("t", vec![sample("c", 3.0)]);
    flush(&w).await;
    assert_eq!(w.stats().sent, 1);
}

#[tokio::test]
async fn a_429_is_retried_only_when_configured() {
    let mock = Mock::new(true);
    mock.answer(429, None);
    let addr = serve(mock.clone()).await;
    let w = RemoteWriter::new(&config(vec![("prom", client(&addr))])).unwrap();
    w.append("t", vec![sample("a", 1.0)]);
    flush(&w).await;
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(w.stats().failed, 1);

    let mock = Mock::new(true);
    mock.answer(429, Some("1"));
    let addr = serve(mock.clone()).await;
    let mut c = client(&addr);
    c.queue_config.retry_on_http_429 = true;
    let w = RemoteWriter::new(&config(vec![("prom", c)])).unwrap();
    w.append("t", vec![sample("a", 1.0)]);
    flush(&w).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(950), "Retry-After is honoured");
    assert_eq!(w.stats().sent, 1);
}

#[tokio::test]
async fn tenants_go_in_separate_requests_and_the_org_header_can_be_off() {
    let mock = Mock::new(true);
    let addr = serve(mock.clone()).await;
    let w = RemoteWriter::new(&config(vec![("prom", client(&addr))])).unwrap();
    w.append("t1", vec![sample("a", 1.0)]);
    w.append("t2", vec![sample("b", 2.0), sample("c", 3.0)]);
    flush(&w).await;
    let mut seen: Vec<(String, usize)> = mock
        .requests()
        .iter()
        .map(|r| (r.header("x-scope-orgid").unwrap().to_string(), r.decode().timeseries.len()))
        .collect();
    seen.sort();
    assert_eq!(seen, vec![("t1".to_string(), 1), ("t2".to_string(), 2)]);

    let mock = Mock::new(true);
    let addr = serve(mock.clone()).await;
    let mut c = client(&addr);
    c.headers.insert("X-Scope-OrgID".into(), "sneaky".into());
    let w = RemoteWriter::new(&RemoteWriteConfig { add_org_id_header: false, ..config(vec![("prom", c)]) }).unwrap();
    w.append("t1", vec![sample("a", 1.0)]);
    flush(&w).await;
    assert_eq!(mock.requests()[0].header("x-scope-orgid"), None);
}

#[tokio::test]
async fn every_client_gets_every_sample() {
    let (a, b) = (Mock::new(true), Mock::new(true));
    let (addr_a, addr_b) = (serve(a.clone()).await, serve(b.clone()).await);
    let w = RemoteWriter::new(&config(vec![("a", client(&addr_a)), ("b", client(&addr_b))])).unwrap();
    w.append("t", vec![sample("x", 1.0)]);
    flush(&w).await;
    assert_eq!(a.requests()[0].values(), vec![("x".to_string(), 1.0)]);
    assert_eq!(b.requests()[0].values(), vec![("x".to_string(), 1.0)]);
}

#[tokio::test]
async fn a_full_queue_drops_its_oldest_samples() {
    let mock = Mock::new(false);
    let addr = serve(mock.clone()).await;
    let mut c = client(&addr);
    c.queue_config.capacity = 3;
    c.queue_config.batch_send_deadline = ConfigDuration::from_millis(0);
    let w = RemoteWriter::new(&config(vec![("prom", c)])).unwrap();
    w.append("t", vec![sample("first", 0.0)]);
    mock.wait_requests(1).await; // in flight, held by the server
    w.append("t", (1..=5).map(|i| sample("m", i as f64)).collect());
    let stats = w.stats();
    assert_eq!((stats.pending, stats.dropped), (4, 2));
    mock.gate.add_permits(100);
    flush(&w).await;
    let values: Vec<f64> = mock.requests()[1].values().into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, vec![3.0, 4.0, 5.0]);
}

#[tokio::test]
async fn a_dead_receiver_never_blocks_append() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut c = client(&addr);
    c.queue_config.batch_send_deadline = ConfigDuration::from_millis(0);
    let w = RemoteWriter::new(&config(vec![("prom", c)])).unwrap();
    let start = Instant::now();
    for i in 0..5000 {
        w.append("t", vec![sample("m", i as f64)]);
    }
    assert!(start.elapsed() < Duration::from_secs(1), "append took {:?}", start.elapsed());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = w.stats();
    assert!(stats.retried > 0, "{stats:?}");
    assert_eq!(stats.sent, 0);
    assert!(tokio::time::timeout(Duration::from_millis(100), w.flush()).await.is_err(), "retries go on");
    drop(w); // stops the retrying task
}

#[tokio::test]
async fn samples_older_than_the_age_limit_are_dropped() {
    let mock = Mock::new(true);
    mock.answer(500, None);
    let addr = serve(mock.clone()).await;
    let mut c = client(&addr);
    c.queue_config.sample_age_limit = ConfigDuration::from_millis(200);
    c.queue_config.min_backoff = ConfigDuration::from_millis(300);
    c.queue_config.max_backoff = ConfigDuration::from_millis(300);
    let w = RemoteWriter::new(&config(vec![("prom", c)])).unwrap();
    let mut old = sample("old", 1.0);
    old.ts_ms -= 60_000;
    w.append("t", vec![old, sample("fresh", 2.0)]);
    flush(&w).await;
    // Sent once with the fresh sample, refused with 500, and dropped as too old before the retry.
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].values(), vec![("fresh".to_string(), 2.0)]);
    let stats = w.stats();
    assert_eq!((stats.dropped, stats.sent, stats.pending), (2, 0, 0));
}

#[tokio::test]
async fn bearer_token_file_is_read_at_every_request() {
    let mock = Mock::new(true);
    let addr = serve(mock.clone()).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "one\n").unwrap();
    let mut c = client(&addr);
    c.bearer_token_file = file.path().to_str().unwrap().into();
    let w = RemoteWriter::new(&config(vec![("prom", c)])).unwrap();
    w.append("t", vec![sample("a", 1.0)]);
    flush(&w).await;
    std::fs::write(file.path(), "two").unwrap();
    w.append("t", vec![sample("a", 1.0)]);
    flush(&w).await;
    let auth: Vec<String> = mock.requests().iter().map(|r| r.header("authorization").unwrap().to_string()).collect();
    assert_eq!(auth, vec!["Bearer one", "Bearer two"]);
}
