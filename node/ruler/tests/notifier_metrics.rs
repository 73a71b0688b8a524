//! The notifier's metrics carry Loki's names and labels.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use balsa_ruler::notifier::{AlertmanagerClientConfig, Notifier, NotifyAlert};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// `name{label="value",...}` → value (histograms: number of observations).
#[derive(Default)]
struct TestRecorder(Arc<Mutex<BTreeMap<String, f64>>>);

struct Handle(String, Arc<Mutex<BTreeMap<String, f64>>>);

impl Handle {
    fn update(&self, f: impl FnOnce(&mut f64)) {
        f(self.1.lock().unwrap().entry(self.0.clone()).or_default());
    }
}
impl metrics::CounterFn for Handle {
    fn increment(&self, v: u64) {
        self.update(|x| *x += v as f64);
    }
    fn absolute(&self, v: u64) {
        self.update(|x| *x = x.max(v as f64));
    }
}
impl metrics::GaugeFn for Handle {
    fn increment(&self, v: f64) {
        self.update(|x| *x += v);
    }
    fn decrement(&self, v: f64) {
        self.update(|x| *x -= v);
    }
    fn set(&self, v: f64) {
        self.update(|x| *x = v);
    }
}
impl metrics::HistogramFn for Handle {
    fn record(&self, _: f64) {
        self.update(|x| *x += 1.0);
    }
}

impl TestRecorder {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let mut labels: Vec<String> = key.labels().map(|l| format!("{}={:?}", l.key(), l.value())).collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(name.clone()).or_default();
        Arc::new(Handle(name, self.0.clone()))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

#[tokio::test]
async fn metrics_have_lokis_names_and_labels() {
    let values = Arc::new(Mutex::new(BTreeMap::new()));
    metrics::set_global_recorder(TestRecorder(values.clone())).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(|| async { StatusCode::OK });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);

    let n = Notifier::new(
        &format!("http://u:p@{addr}/am,http://{closed_addr}"),
        &AlertmanagerClientConfig::default(),
        100,
        Duration::from_secs(5),
    )
    .unwrap();
    let alert = NotifyAlert {
        labels: vec![("alertname".into(), "A".into())],
        annotations: vec![],
        starts_at_ms: 0,
        ends_at_ms: None,
        generator_url: String::new(),
    };
    n.send("team-a", vec![alert.clone(), alert]);
    tokio::time::timeout(Duration::from_secs(10), n.flush()).await.unwrap();

    let values = values.lock().unwrap().clone();
    let get = |k: &str| *values.get(k).unwrap_or_else(|| panic!("no {k} in {values:#?}"));
    let up = format!("alertmanager=\"http://{addr}/am/api/v2/alerts\",user=\"team-a\"");
    let down = format!("alertmanager=\"http://{closed_addr}/api/v2/alerts\",user=\"team-a\"");
    assert_eq!(get(&format!("loki_prometheus_notifications_sent_total{{{up}}}")), 2.0);
    assert_eq!(get(&format!("loki_prometheus_notifications_errors_total{{{up}}}")), 0.0);
    assert_eq!(get(&format!("loki_prometheus_notifications_dropped_total{{{up}}}")), 0.0);
    assert_eq!(get(&format!("loki_prometheus_notifications_queue_length{{{up}}}")), 0.0);
    assert_eq!(get(&format!("loki_prometheus_notifications_latency_seconds{{{up}}}")), 1.0);
    assert_eq!(get(&format!("loki_prometheus_notifications_latency_histogram_seconds{{{up}}}")), 1.0);
    assert_eq!(get(&format!("loki_prometheus_notifications_sent_total{{{down}}}")), 0.0);
    assert_eq!(get(&format!("loki_prometheus_notifications_errors_total{{{down}}}")), 2.0);
    assert_eq!(get(&format!("loki_prometheus_notifications_dropped_total{{{down}}}")), 2.0);
    assert_eq!(get("loki_prometheus_notifications_queue_capacity{user=\"team-a\"}"), 100.0);
    assert_eq!(get("loki_prometheus_notifications_alertmanagers_discovered{user=\"team-a\"}"), 2.0);
}
