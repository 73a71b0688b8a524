//! The Alertmanager client against in-process HTTP servers (mocks; tests with
//! a real Alertmanager live elsewhere).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use balsa_ruler::notifier::{AlertmanagerClientConfig, MAX_BATCH_SIZE, Notifier, NotifyAlert, generator_url};
use serde_json::Value;
use tokio::sync::Semaphore;

#[derive(Clone)]
struct Mock {
    requests: Arc<Mutex<Vec<Request>>>,
    /// Statuses to answer, in order; then 200.
    statuses: Arc<Mutex<VecDeque<u16>>>,
    /// Every request takes a permit before it is answered.
    gate: Arc<Semaphore>,
}

#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    fn json(&self) -> Vec<Value> {
        serde_json::from_slice(&self.body).unwrap()
    }
}

impl Mock {
    fn new(open: bool) -> Mock {
        Mock {
            requests: Arc::default(),
            statuses: Arc::default(),
            gate: Arc::new(Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 })),
        }
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

async fn record(State(mock): State<Mock>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    mock.requests.lock().unwrap().push(Request { path: uri.path().to_string(), headers, body });
    mock.gate.acquire().await.unwrap().forget();
    let status = mock.statuses.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// Serves `mock` on a free port; returns `127.0.0.1:port`.
async fn serve(mock: Mock) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(record).with_state(mock);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

fn alert(name: &str, i: usize) -> NotifyAlert {
    NotifyAlert {
        labels: vec![("alertname".into(), name.into()), ("i".into(), i.to_string())],
        annotations: vec![("summary".into(), format!("alert {i}"))],
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms: Some(1_700_000_240_000),
        generator_url: generator_url("http://grafana", "count_over_time({a=\"b\"}[1m]) > 0", ""),
    }
}

fn notifier(url: &str, capacity: usize, timeout: Duration) -> Notifier {
    Notifier::new(url, &AlertmanagerClientConfig::default(), capacity, timeout).unwrap()
}

async fn flush(n: &Notifier) {
    tokio::time::timeout(Duration::from_secs(10), n.flush()).await.expect("flush");
}

#[tokio::test]
async fn posts_alertmanager_v2_json_in_batches_of_256() {
    let mock = Mock::new(true);
    let addr = serve(mock.clone()).await;
    let n = notifier(&format!("http://user:p%40ss@{addr}/prefix/"), 10_000, Duration::from_secs(10));
    assert_eq!(n.alertmanagers(), vec![format!("http://{addr}/prefix/api/v2/alerts")]);

    n.send("tenant-1", (0..300).map(|i| alert("HighErrors", i)).collect());
    flush(&n).await;

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].json().len(), MAX_BATCH_SIZE);
    assert_eq!(reqs[1].json().len(), 300 - MAX_BATCH_SIZE);
    let r = &reqs[0];
    assert_eq!(r.path, "/prefix/api/v2/alerts");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-scope-orgid"), Some("tenant-1"));
    assert!(r.header("user-agent").unwrap().starts_with("Balsa/"));
    // "user:p@ss" in base64.
    assert_eq!(r.header("authorization"), Some("Basic dXNlcjpwQHNz"));
    let first = &r.json()[0];
    assert_eq!(
        first,
        &serde_json::json!({
            "annotations": {"summary": "alert 0"},
            "endsAt": "2023-11-14T22:17:20.000Z",
            "startsAt": "2023-11-14T22:13:20.000Z",
            "generatorURL": generator_url("http://grafana", "count_over_time({a=\"b\"}[1m]) > 0", ""),
            "labels": {"alertname": "HighErrors", "i": "0"},
        })
    );
    // Alerts keep their order across batches.
    assert_eq!(reqs[1].json()[0]["labels"]["i"], "256");
    let stats = n.stats();
    assert_eq!((stats.sent, stats.errors, stats.dropped, stats.queued), (300, 0, 0, 0));
}

#[tokio::test]
async fn every_alertmanager_and_tenant_gets_its_own_requests() {
    let (a, b) = (Mock::new(true), Mock::new(true));
    let (addr_a, addr_b) = (serve(a.clone()).await, serve(b.clone()).await);
    let n = notifier(&format!("http://{addr_a}, http://{addr_b}/am"), 100, Duration::from_secs(10));
    n.send("t1", vec![alert("A", 1)]);
    n.send("t2", vec![alert("A", 2), alert("A", 3)]);
    flush(&n).await;
    for mock in [&a, &b] {
        let mut reqs: Vec<(String, usize)> =
            mock.requests().iter().map(|r| (r.header("x-scope-orgid").unwrap().to_string(), r.json().len())).collect();
        reqs.sort();
        assert_eq!(reqs, vec![("t1".to_string(), 1), ("t2".to_string(), 2)]);
    }
    assert_eq!(b.requests()[0].path, "/am/api/v2/alerts");
    assert_eq!(n.stats().sent, 6);
}

#[tokio::test]
async fn a_full_queue_drops_its_oldest_alerts() {
    let mock = Mock::new(false);
    let addr = serve(mock.clone()).await;
    let n = notifier(&format!("http://{addr}"), 5, Duration::from_secs(10));
    n.send("t", vec![alert("A", 0)]);
    mock.wait_requests(1).await; // the first batch is in flight, held by the server
    n.send("t", (1..=8).map(|i| alert("A", i)).collect());
    n.send("t", vec![alert("A", 9), alert("A", 10)]);
    let stats = n.stats();
    assert_eq!((stats.queued, stats.dropped), (5, 5));

    mock.gate.add_permits(100);
    flush(&n).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    let second: Vec<String> = reqs[1].json().iter().map(|a| a["labels"]["i"].as_str().unwrap().to_string()).collect();
    assert_eq!(second, vec!["6", "7", "8", "9", "10"]);
    assert_eq!(n.stats().sent, 6);
}

#[tokio::test]
async fn a_failed_post_is_counted_and_not_retried() {
    let mock = Mock::new(true);
    mock.statuses.lock().unwrap().extend([400, 500]);
    let addr = serve(mock.clone()).await;
    let n = notifier(&format!("http://{addr}"), 100, Duration::from_secs(10));
    n.send("t", vec![alert("A", 1), alert("A", 2)]);
    flush(&n).await;
    n.send("t", vec![alert("A", 3)]);
    flush(&n).await;
    assert_eq!(mock.requests().len(), 2);
    let stats = n.stats();
    assert_eq!((stats.sent, stats.errors, stats.dropped), (0, 3, 3));
    n.send("t", vec![alert("A", 4)]);
    flush(&n).await;
    assert_eq!(n.stats().sent, 1);
}

#[tokio::test]
async fn a_dead_alertmanager_never_blocks_send() {
    // Refused connections.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    // A blackhole: connections are accepted by the kernel, never answered.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap();

    let n = notifier(&format!("http://{closed_addr},http://{hole_addr}"), 10_000, Duration::from_millis(300));
    let start = Instant::now();
    for i in 0..2000 {
        n.send("t", vec![alert("A", i)]);
    }
    assert!(start.elapsed() < Duration::from_secs(1), "send took {:?}", start.elapsed());
    flush(&n).await;
    let stats = n.stats();
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.errors, stats.dropped);
    assert_eq!(stats.errors, 2 * 2000);
    drop(hole);
}

#[tokio::test]
async fn authorization_credentials_come_from_config_or_file() {
    let mock = Mock::new(true);
    let addr = serve(mock.clone()).await;
    let cfg = AlertmanagerClientConfig { credentials: "tok".into(), ..Default::default() };
    let n = Notifier::new(&format!("http://{addr}"), &cfg, 10, Duration::from_secs(5)).unwrap();
    n.send("t", vec![alert("A", 1)]);
    flush(&n).await;

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "from-file\n").unwrap();
    let cfg = AlertmanagerClientConfig {
        kind: "Token".into(),
        credentials_file: file.path().to_str().unwrap().into(),
        ..Default::default()
    };
    let n = Notifier::new(&format!("http://{addr}"), &cfg, 10, Duration::from_secs(5)).unwrap();
    n.send("t", vec![alert("A", 1)]);
    flush(&n).await;

    // Configured basic auth overrides the URL's and wins over credentials.
    let cfg = AlertmanagerClientConfig {
        basic_auth_username: "cfg".into(),
        basic_auth_password: "pw".into(),
        credentials: "tok".into(),
        ..Default::default()
    };
    let n = Notifier::new(&format!("http://url:user@{addr}"), &cfg, 10, Duration::from_secs(5)).unwrap();
    n.send("t", vec![alert("A", 1)]);
    flush(&n).await;

    let auth: Vec<String> = mock.requests().iter().map(|r| r.header("authorization").unwrap().to_string()).collect();
    assert_eq!(auth, vec!["Bearer tok", "Token from-file", "Basic Y2ZnOnB3"]);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let mock = Mock::new(true);
    mock.statuses.lock().unwrap().push_back(307);
    let addr = serve(mock.clone()).await;
    let n = notifier(&format!("http://{addr}"), 10, Duration::from_secs(5));
    n.send("t", vec![alert("A", 1)]);
    flush(&n).await;
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(n.stats().errors, 1);
}

#[tokio::test]
async fn no_url_means_no_alertmanager() {
    let n = notifier(" ", 10, Duration::from_secs(1));
    assert!(!n.enabled());
    n.send("t", vec![alert("A", 1)]);
    flush(&n).await;
    assert_eq!(n.stats(), Default::default());
}

#[test]
fn bad_urls_are_refused_at_start() {
    let cfg = AlertmanagerClientConfig::default();
    for (url, needle) in [
        ("alertmanager:9093", "ruler.alertmanager_url"),
        ("ftp://am", "unsupported scheme"),
        ("ftp://user:secret@am", "unsupported scheme"),
    ] {
        let err = Notifier::new(url, &cfg, 10, Duration::from_secs(1)).unwrap_err();
        assert!(err.contains(needle) && !err.contains("secret"), "{url}: {err}");
    }
}

#[test]
fn send_outside_a_runtime_does_not_panic() {
    let n =
        Notifier::new("http://127.0.0.1:9", &AlertmanagerClientConfig::default(), 2, Duration::from_secs(1)).unwrap();
    n.send("t", vec![alert("A", 1), alert("A", 2), alert("A", 3)]);
    let stats = n.stats();
    assert_eq!((stats.queued, stats.dropped), (2, 1));
}
