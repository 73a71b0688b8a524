//! The remote writer's metrics carry Loki's names and labels.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use balsa_ruler::remote_write::{RecordedSample, RemoteWriteClientConfig, RemoteWriteConfig, RemoteWriter};
use balsa_ruler::testing::TestRecorder;

#[tokio::test]
async fn metrics_have_lokis_names_and_labels() {
    let values = Arc::new(Mutex::new(BTreeMap::new()));
    metrics::set_global_recorder(TestRecorder(values.clone())).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answers = Arc::new(Mutex::new(vec![400u16, 204, 500])); // popped from the end
    let app = Router::new().fallback(move || {
        let answers = answers.clone();
        async move { StatusCode::from_u16(answers.lock().unwrap().pop().unwrap_or(204)).unwrap() }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = format!("http://{addr}/api/v1/write");
    let mut client = RemoteWriteClientConfig { url: url.clone(), ..Default::default() };
    client.queue_config.min_backoff = balsa_model::units::Duration::from_millis(5);
    client.queue_config.capacity = 2;
    let cfg =
        RemoteWriteConfig { enabled: true, clients: [("mimir".to_string(), client)].into(), ..Default::default() };
    let w = RemoteWriter::new(&cfg).unwrap();
    let sample = |v: f64| RecordedSample { labels: vec![("__name__".into(), "m".into())], value: v, ts_ms: 5_000 };

    // 3 samples into a queue of 2: one dropped; then 500 (retried), 204.
    w.append("t1", vec![sample(1.0), sample(2.0), sample(3.0)]);
    tokio::time::timeout(Duration::from_secs(10), w.flush()).await.unwrap();
    // Then a 400: failed.
    w.append("t1", vec![sample(4.0)]);
    tokio::time::timeout(Duration::from_secs(10), w.flush()).await.unwrap();

    let values = values.lock().unwrap().clone();
    let get = |k: &str| *values.get(k).unwrap_or_else(|| panic!("no {k} in {values:#?}"));
    let p = "loki_ruler_wal_prometheus_remote_storage_";
    let l = format!("remote_name=\"t1-rw-mimir\",tenant=\"t1\",url=\"{url}\"");
    assert_eq!(get(&format!("{p}samples_in_total{{tenant=\"t1\"}}")), 4.0);
    assert_eq!(get(&format!("{p}samples_total{{{l}}}")), 5.0, "every attempt counts");
    assert_eq!(get(&format!("{p}samples_retried_total{{{l}}}")), 2.0);
    assert_eq!(get(&format!("{p}samples_failed_total{{{l}}}")), 1.0);
    assert_eq!(get(&format!("{p}samples_dropped_total{{reason=\"queue_full\",{l}}}")), 1.0);
    assert_eq!(get(&format!("{p}samples_dropped_total{{reason=\"too_old\",{l}}}")), 0.0);
    assert_eq!(get(&format!("{p}samples_pending{{{l}}}")), 0.0);
    assert_eq!(get(&format!("{p}sent_batch_duration_seconds{{{l}}}")), 3.0);
    assert_eq!(get(&format!("{p}queue_highest_sent_timestamp_seconds{{{l}}}")), 5.0);
    assert_eq!(get(&format!("{p}shards{{{l}}}")), 1.0);
    assert_eq!(get(&format!("{p}shard_capacity{{{l}}}")), 2.0);
    assert_eq!(get(&format!("{p}max_samples_per_send{{{l}}}")), 2000.0);
    assert!(get(&format!("{p}bytes_total{{{l}}}")) > 0.0);
}
