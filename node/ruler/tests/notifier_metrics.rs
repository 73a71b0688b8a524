//! The notifier's metrics carry Loki's names and labels.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use balsa_ruler::notifier::{AlertmanagerClientConfig, Notifier, NotifyAlert};
use balsa_ruler::testing::TestRecorder;

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
