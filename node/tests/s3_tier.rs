//! Sealed chunks move to a real S3 server (moto_server, installed by
//! `deploy/dev/setup.sh`): bucket creation, upload, local drop, queries over
//! hot and cold data, restart, S3 outages, a bucket that cannot be used.

mod common;

use std::time::{Duration, Instant};

use common::reqwest::blocking_client as client;
use common::{Balsa, Moto, enc, free_port, metric, now_ns};
use serde_json::json;

const BUCKET: &str = common::MOTO_BUCKET;

fn s3_flags(port: u16) -> Vec<String> {
    [common::s3_flags(port), vec!["-cluster.shards=2".into()]].concat()
}

fn start(data: &std::path::Path, flags: &[String]) -> Balsa {
    let mut b = Balsa::new(data, free_port(), free_port(), flags);
    b.spawn();
    b.wait_ready(Duration::from_secs(60));
    b
}

fn push(b: &Balsa, app: &str, from: usize, to: usize, base_ns: i64) {
    let values: Vec<_> = (from..to)
        .map(|i| json!([(base_ns + i as i64 * 1_000_000).to_string(), format!("line {i:05} {}", "x".repeat(60))]))
        .collect();
    let body = json!({"streams": [{"stream": {"app": app}, "values": values}]});
    let r = client()
        .post(b.url("/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text());
}

/// Status and body (JSON on success, Loki's plain-text error otherwise).
fn query_text(b: &Balsa, q: &str, start_ns: i64) -> (u16, String) {
    let url = format!("/loki/api/v1/query_range?query={}&limit=5000&direction=forward&start={start_ns}", enc(q));
    let r = client().get(b.url(&url)).send().unwrap();
    (r.status(), r.text())
}

fn query(b: &Balsa, q: &str, start_ns: i64) -> (u16, serde_json::Value) {
    let (status, text) = query_text(b, q, start_ns);
    (status, serde_json::from_str(&text).unwrap_or(json!(text)))
}

fn lines(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            out.push(e[1].as_str().unwrap().to_string());
        }
    }
    out
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn expected(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("line {i:05} {}", "x".repeat(60))).collect()
}

#[test]
fn sealed_chunks_move_to_s3_and_queries_span_both_tiers() {
    let mut moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let flags = s3_flags(moto.port);
    let mut node = start(&data, &flags);
    // The bucket did not exist: the node created it.
    assert!(moto.keys().is_empty());

    let base = now_ns() - 600_000_000_000;
    for batch in 0..10 {
        push(&node, "tiered", batch * 100, batch * 100 + 100, base);
    }
    let uploaded = common::wait_uploads_settled(&[&node], 5.0, Duration::from_secs(60));
    let objects = moto.keys();
    assert_eq!(objects.len() as f64, metric(&node, "balsa_tier_uploaded_objects_total"));
    assert!(!objects.is_empty() && objects.len() as f64 <= uploaded, "{uploaded} chunks in {objects:?}");
    assert!(objects.iter().all(|k| k.starts_with("tier-test/chunks/fake/")), "{objects:?}");

    // Hot head + cold chunks, in order, nothing lost or doubled.
    let (status, v) = query(&node, r#"{app="tiered"}"#, base - 1);
    assert_eq!(status, 200, "{v}");
    assert_eq!(lines(&v), expected(0, 1000));
    assert!(metric(&node, "balsa_chunk_cache_misses_total") >= 1.0, "cold chunks were read from s3");
    let (_, v) = query(&node, r#"sum(count_over_time({app="tiered"}[1h]))"#, base - 1);
    let last = v["data"]["result"][0]["values"].as_array().unwrap().last().unwrap()[1].as_str().unwrap().to_string();
    assert_eq!(last, "1000", "{v}");

    // Restart: the index is local, the data comes back from S3.
    assert!(node.terminate().success());
    let no_cache =
        [flags.clone(), vec!["-chunk_store_config.chunk_cache_config.embedded_cache.enabled=false".into()]].concat();
    node = start(&data, &no_cache);
    let (status, v) = query(&node, r#"{app="tiered"}"#, base - 1);
    assert_eq!(status, 200, "{v}");
    assert_eq!(lines(&v), expected(0, 1000));

    // An object no chunk refers to (an upload whose Raft entry never
    // committed) is swept; the referenced ones stay.
    let orphan = format!("tier-test/chunks/fake/{:016x}/1-0-0000000000000000", 12345u64);
    let r = client().put(moto.url(&format!("/{BUCKET}/{orphan}"))).body(b"BALSAC01junk".to_vec()).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    wait_for("the orphan sweep", Duration::from_secs(30), || !moto.keys().contains(&orphan));
    assert_eq!(moto.keys(), objects, "referenced objects are kept");

    // Disaster recovery: empty disks, same bucket and prefix.
    assert!(node.terminate().success());
    // Ready means the adopted chunks are visible: the first query after
    // /ready already has every sealed line, with no polling.
    let mut recovered = start(&dir.path().join("recovered"), &flags);
    let sealed = {
        let (status, v) = query(&recovered, r#"{app="tiered"}"#, base - 1);
        assert_eq!(status, 200, "{v}");
        lines(&v)
    };
    assert!(sealed.len() >= 900, "only {} lines right after /ready", sealed.len());
    assert_eq!(sealed, expected(0, sealed.len()), "every sealed line, in order");
    assert_eq!(metric(&recovered, "balsa_tier_adopted_chunks_total"), uploaded, "every chunk, in however many objects");
    assert!(recovered.terminate().success());
    node = start(&data, &no_cache);

    // S3 goes away: ingestion goes on; a query that needs cold data says why.
    moto.stop();
    push(&node, "tiered", 1000, 1100, base);
    push(&node, "fresh", 0, 10, now_ns() - 1_000_000_000);
    let (status, msg) = query_text(&node, r#"{app="tiered"}"#, base - 1);
    assert_eq!(status, 503, "{msg}");
    assert!(msg.contains("object storage unavailable") && msg.contains(BUCKET), "{msg}");
    // Data that is still local reads fine.
    let (status, v) = query(&node, r#"{app="fresh"}"#, base - 1);
    assert_eq!(status, 200, "{v}");
    assert_eq!(lines(&v).len(), 10);
    wait_for("pending chunks to be counted", Duration::from_secs(30), || {
        metric(&node, "balsa_tier_pending_chunks") >= 1.0
    });
    assert!(node.is_running());
}

#[test]
fn unusable_bucket_fails_startup_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    // Nothing listens on this port.
    let dead = free_port();
    let mut node = Balsa::new(&data, free_port(), free_port(), &s3_flags(dead));
    node.spawn();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = node.child.as_mut().unwrap().try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "balsa kept running without its bucket");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let log = node.log_text();
    assert!(log.contains(BUCKET) && log.contains("storage_config.aws"), "{log}");
    node.child = None;
}

#[test]
fn retention_drops_old_data_in_both_tiers() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let flags = [
        s3_flags(moto.port),
        vec![
            "-compactor.retention_enabled=true".into(),
            "-compactor.compaction_interval=4s".into(),
            "-limits_config.retention_period=1h".into(),
        ],
    ]
    .concat();
    let config = dir.path().join("balsa.yaml");
    std::fs::write(
        &config,
        "limits_config:\n  retention_stream:\n  - selector: '{app=\"keep\"}'\n    priority: 1\n    period: 24h\n",
    )
    .unwrap();
    let flags = [flags, vec![format!("-config.file={}", config.display())]].concat();
    let node = start(&data, &flags);

    let three_hours_ago = now_ns() - 3 * 3_600_000_000_000;
    // The old stream's chunks reach S3 before retention first runs.
    push(&node, "old", 0, 300, three_hours_ago);
    common::wait_uploads_settled(&[&node], 1.0, Duration::from_secs(30));
    let old_objects = moto.keys();
    assert!(!old_objects.is_empty());
    push(&node, "keep", 0, 300, three_hours_ago);
    push(&node, "recent", 0, 10, now_ns() - 60_000_000_000);

    let since = three_hours_ago - 1;
    wait_for("retention of {app=\"old\"}", Duration::from_secs(60), || {
        let (status, v) = query(&node, r#"{app="old"}"#, since);
        status == 200 && lines(&v).is_empty()
    });
    let (_, v) = query(&node, r#"{app="keep"}"#, since);
    assert_eq!(lines(&v), expected(0, 300), "retention_stream keeps this stream for 24h");
    let (_, v) = query(&node, r#"{app="recent"}"#, since);
    assert_eq!(lines(&v), expected(0, 10));
    // The expired stream is gone from the index too.
    let r = client().get(node.url(&format!("/loki/api/v1/label/app/values?start={since}"))).send().unwrap();
    let values = r.json()["data"].clone();
    assert_eq!(values, json!(["keep", "recent"]), "{values}");
    assert!(metric(&node, "balsa_retention_expired_streams_total") >= 1.0);

    // The expired stream's objects are swept from the bucket.
    wait_for("objects of expired chunks to be swept", Duration::from_secs(60), || {
        let now = moto.keys();
        old_objects.iter().all(|k| !now.contains(k))
    });
    assert!(metric(&node, "balsa_tier_swept_objects_total") >= old_objects.len() as f64);
    let (_, v) = query(&node, r#"{app="keep"}"#, since);
    assert_eq!(lines(&v), expected(0, 300), "cold chunks of the kept stream still read");
}

fn delete_requests(b: &Balsa) -> Vec<serde_json::Value> {
    let r = client().get(b.url("/loki/api/v1/delete")).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json().as_array().unwrap().clone()
}

#[test]
fn delete_requests_remove_lines_in_both_tiers() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let flags = [
        s3_flags(moto.port),
        vec![
            "-compactor.retention_enabled=true".into(),
            "-compactor.compaction_interval=1s".into(),
            "-compactor.delete_request_cancel_period=3s".into(),
            // Superseded objects stay in the bucket for the recovery below.
            "-storage_config.orphan_grace_period=1h".into(),
        ],
    ]
    .concat();
    let mut node = start(&data, &flags);
    let base = now_ns() - 600_000_000_000;
    for batch in 0..3 {
        push(&node, "del", batch * 100, batch * 100 + 100, base);
    }
    common::wait_uploads_settled(&[&node], 2.0, Duration::from_secs(60));
    let since = base - 1;

    // Bad requests get Loki's messages.
    let post = |q: &str| client().post(node.url(&format!("/loki/api/v1/delete?{q}"))).send().unwrap();
    let start_s = base / 1_000_000_000 - 1;
    let r = post(&format!("start={start_s}"));
    assert_eq!((r.status(), r.text().trim().to_string()), (400, "query not set".to_string()));
    let r = post(&format!("query={}&start={start_s}", enc(r#"{app="del"} | json"#)));
    assert_eq!(r.status(), 400, "{}", r.text());
    let r = post(&format!("query={}", enc(r#"{app="del"}"#)));
    assert_eq!(r.status(), 400, "start is required: {}", r.text());
    let r = post(&format!("query={}&start={start_s}&end={}", enc(r#"{app="del"}"#), start_s - 10));
    assert_eq!(r.text().trim(), "start time can't be greater than end time");

    // One request to keep, one to cancel.
    let r = post(&format!("query={}&start={start_s}", enc(r#"{app="del"} |= "line 001""#)));
    assert_eq!(r.status(), 204, "{}", r.text());
    let r = post(&format!("query={}&start={start_s}", enc(r#"{app="del"}"#)));
    assert_eq!(r.status(), 204, "{}", r.text());
    let (_, v) = query(&node, r#"{app="del"}"#, since);
    assert!(lines(&v).is_empty(), "lines of pending requests are hidden at once: {}", lines(&v).len());
    let listed = delete_requests(&node);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|r| r["status"] == "received" && r["start_time"] == json!(start_s)), "{listed:?}");
    let cancel_id =
        listed.iter().find(|r| r["query"] == r#"{app="del"}"#).unwrap()["request_id"].as_str().unwrap().to_string();
    let cancel = |id: &str| client().delete(node.url(&format!("/loki/api/v1/delete?request_id={id}"))).send().unwrap();
    assert_eq!(cancel(&cancel_id).status(), 204);
    assert_eq!(cancel(&cancel_id).status(), 404, "a cancelled request is gone");
    let listed = delete_requests(&node);
    assert_eq!(listed.len(), 1);
    let want: Vec<String> = expected(0, 300).into_iter().filter(|l| !l.contains("line 001")).collect();
    let (_, v) = query(&node, r#"{app="del"}"#, since);
    assert_eq!(lines(&v), want, "a cancelled request hides nothing");
    let kept_id = listed[0]["request_id"].as_str().unwrap().to_string();

    wait_for("the delete request to be processed", Duration::from_secs(60), || {
        delete_requests(&node).first().is_some_and(|r| r["status"] == "processed")
    });
    let (status, v) = query(&node, r#"{app="del"}"#, since);
    assert_eq!(status, 200, "{v}");
    assert_eq!(lines(&v), want);
    let r = cancel(&kept_id);
    assert_eq!(r.status(), 400, "{}", r.text());
    assert!(metric(&node, "balsa_delete_requests_processed_total") >= 1.0);

    // Rewritten chunks go back to S3; after a restart without cache, the
    // deleted lines are still gone.
    common::wait_uploads_settled(&[&node], 2.0, Duration::from_secs(60));
    assert!(node.terminate().success());
    let no_cache =
        [flags.clone(), vec!["-chunk_store_config.chunk_cache_config.embedded_cache.enabled=false".into()]].concat();
    node = start(&data, &no_cache);
    let (status, v) = query(&node, r#"{app="del"}"#, since);
    assert_eq!(status, 200, "{v}");
    assert_eq!(lines(&v), want);

    // A recovery from the bucket (empty disks) adopts the rewritten chunks,
    // never the copies from before the deletion, which are still there.
    assert!(moto.keys().iter().any(|k| k.contains("/tombstones/")), "rewritten cold chunks leave tombstones");
    assert!(node.terminate().success());
    let recovered = start(&dir.path().join("recovered"), &flags);
    let mut got = Vec::new();
    wait_for("adoption", Duration::from_secs(30), || {
        let (status, v) = query(&recovered, r#"{app="del"}"#, since);
        got = if status == 200 { lines(&v) } else { Vec::new() };
        got.len() >= 150
    });
    assert!(got.iter().all(|l| !l.contains("line 001")), "deleted lines came back from the bucket");
    assert!(got.iter().all(|l| want.contains(l)));
}

#[test]
fn a_quiet_stream_is_sealed_by_idleness_and_uploaded() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let flags = [s3_flags(moto.port), vec!["-ingester.chunk_idle_period=2s".into()]].concat();
    let node = start(&dir.path().join("node"), &flags);
    // Far below chunk_target_size, and nothing is pushed afterwards.
    let base = now_ns() - 1_000_000_000;
    push(&node, "quiet", 0, 10, base);
    wait_for("the idle head to be sealed and uploaded", Duration::from_secs(30), || {
        metric(&node, "balsa_tier_uploaded_chunks_total") >= 1.0
    });
    assert_eq!(moto.keys().len(), 1);
    let (status, v) = query(&node, r#"{app="quiet"}"#, base - 1);
    assert_eq!(status, 200, "{v}");
    assert_eq!(lines(&v), expected(0, 10));
}

#[test]
fn retention_is_not_undone_by_a_recovery_from_the_bucket() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        s3_flags(moto.port),
        vec![
            "-compactor.retention_enabled=true".into(),
            "-compactor.compaction_interval=4s".into(),
            "-limits_config.retention_period=1h".into(),
            // Expired objects stay in the bucket during the recovery below.
            "-storage_config.orphan_grace_period=1h".into(),
        ],
    ]
    .concat();
    let node = start(&dir.path().join("node"), &flags);
    let three_hours_ago = now_ns() - 3 * 3_600_000_000_000;
    push(&node, "old", 0, 300, three_hours_ago);
    push(&node, "recent", 0, 300, now_ns() - 600_000_000_000);
    common::wait_uploads_settled(&[&node], 2.0, Duration::from_secs(30));
    let since = three_hours_ago - 1;
    wait_for("retention of {app=\"old\"}", Duration::from_secs(60), || {
        let (status, v) = query(&node, r#"{app="old"}"#, since);
        status == 200 && lines(&v).is_empty()
    });
    assert!(moto.keys().iter().any(|k| k.contains("/tombstones/")), "expired cold chunks leave tombstones");
    drop(node);

    let recovered = start(&dir.path().join("recovered"), &flags);
    wait_for("adoption of the recent stream", Duration::from_secs(30), || {
        let (status, v) = query(&recovered, r#"{app="recent"}"#, since);
        status == 200 && !lines(&v).is_empty()
    });
    let (_, v) = query(&recovered, r#"{app="old"}"#, since);
    assert!(lines(&v).is_empty(), "expired lines came back from the bucket: {}", lines(&v).len());
}
