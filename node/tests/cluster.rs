//! Three real `balsa` processes talking gRPC over loopback: formation in any
//! order, read-your-writes across nodes, kill -9 under load, a wiped node
//! rejoining, a rolling restart, and a minority refusing writes.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::reqwest::blocking_client as client;
use common::{enc, now_ns};
use serde_json::json;

/// Three nodes (not started), 8 shards.
type Cluster = common::Trio;

impl Cluster {
    fn new() -> Self {
        common::Trio::with_flags(&["-cluster.shards=8", "-server.graceful_shutdown_timeout=10s"])
    }

    fn start_all(&mut self, order: &[usize]) {
        for &i in order {
            self.nodes[i].spawn();
            std::thread::sleep(Duration::from_millis(300));
        }
        for &i in order {
            self.nodes[i].wait_ready(Duration::from_secs(60));
        }
    }

    fn url(&self, i: usize, path: &str) -> String {
        self.nodes[i].url(path)
    }

    /// How many shards each node leads, from node `asker`'s status page.
    fn leader_counts(&self, asker: usize) -> [usize; 3] {
        let s = client().get(self.url(asker, "/cluster/status")).send().unwrap().json();
        let mut count = [0usize; 3];
        for sh in s["shards"].as_array().unwrap() {
            if let Some(l) = sh["leader"].as_u64() {
                count[l as usize] += 1;
            }
        }
        count
    }

    /// The node leading most shards, from node `asker`'s status page.
    fn busiest_leader(&self, asker: usize) -> usize {
        let count = self.leader_counts(asker);
        (0..3).max_by_key(|i| count[*i]).unwrap()
    }
}

fn push(url: &str, stream: &str, ts: i64, line: &str) -> u16 {
    let body = json!({"streams": [{"stream": {"app": "cluster", "s": stream}, "values": [[ts.to_string(), line]]}]});
    match client().post(url).header("content-type", "application/json").body(body.to_string()).send() {
        Ok(r) => r.status(),
        Err(_) => 0,
    }
}

/// Every line a node returns for the test streams, over a wide range.
fn read_all(c: &Cluster, i: usize, since: i64) -> Vec<String> {
    let q = format!(
        "/loki/api/v1/query_range?query={}&limit=5000&direction=forward&start={}",
        enc(r#"{app="cluster"}"#),
        since
    );
    let r = client().get(c.url(i, &q)).send().unwrap();
    assert_eq!(r.status(), 200, "node {i}: {}", r.text());
    let v = r.json();
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            out.push(e[1].as_str().unwrap().to_string());
        }
    }
    out
}

/// A client that pushes unique lines in a loop, retrying each push (like
/// Promtail) against the live nodes, and records what was acknowledged.
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    failed: Arc<Mutex<Vec<String>>>,
    max_gap: Arc<Mutex<Duration>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(urls: Vec<String>, name: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let max_gap = Arc::new(Mutex::new(Duration::ZERO));
        let (s, a, f, g, name) = (stop.clone(), acked.clone(), failed.clone(), max_gap.clone(), name.to_string());
        let handle = std::thread::spawn(move || {
            let mut seq = 0u64;
            let mut last_ok = Instant::now();
            while !s.load(Ordering::Relaxed) {
                seq += 1;
                let line = format!("{name}-{seq}");
                let ts = now_ns();
                let stream = format!("w{}", seq % 5);
                let mut ok = false;
                for attempt in 0..60 {
                    let url = &urls[(seq as usize + attempt) % urls.len()];
                    let tried = Instant::now();
                    let code = push(url, &stream, ts, &line);
                    if tried.elapsed() > Duration::from_secs(1) {
                        eprintln!("{name}: push of {line} to {url} took {:?} and answered {code}", tried.elapsed());
                    }
                    if code == 204 {
                        ok = true;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                if ok {
                    let gap = last_ok.elapsed();
                    if gap > Duration::from_secs(1) {
                        eprintln!("{name}: {line} acknowledged after a {gap:?} wait");
                    }
                    let mut mg = g.lock().unwrap();
                    if gap > *mg {
                        *mg = gap;
                    }
                    last_ok = Instant::now();
                    a.lock().unwrap().push(line);
                } else {
                    f.lock().unwrap().push(line);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Writer { stop, acked, failed, max_gap, handle: Some(handle) }
    }

    fn finish(mut self) -> (Vec<String>, Vec<String>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap();
        let acked = self.acked.lock().unwrap().clone();
        let failed = self.failed.lock().unwrap().clone();
        let gap = *self.max_gap.lock().unwrap();
        (acked, failed, gap)
    }
}

fn assert_every_node_has(c: &Cluster, nodes: &[usize], since: i64, acked: &[String]) {
    let want: BTreeSet<&String> = acked.iter().collect();
    let mut first: Option<Vec<String>> = None;
    for &i in nodes {
        let mut got = read_all(c, i, since);
        got.sort();
        let have: BTreeSet<&String> = got.iter().collect();
        let missing: Vec<_> = want.difference(&have).take(5).collect();
        assert!(missing.is_empty(), "node {i} lost acknowledged lines, e.g. {missing:?} ({} acked)", acked.len());
        let dupes = got.len() - have.len();
        assert_eq!(dupes, 0, "node {i} returned duplicates");
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(&got, f, "nodes disagree after healing"),
        }
    }
}

#[test]
fn forms_in_any_order_and_any_node_reads_a_push_made_elsewhere() {
    let mut c = Cluster::new();
    c.start_all(&[2, 0, 1]);
    let since = now_ns() - 60_000_000_000;
    for n in 0..24 {
        let ts = now_ns();
        let line = format!("ryw-{n}");
        let (writer, reader) = (n % 3, (n + 1) % 3);
        assert_eq!(push(&c.url(writer, "/loki/api/v1/push"), &format!("s{n}"), ts, &line), 204);
        // Immediately after the 204, another node must return it.
        let got = read_all(&c, reader, since);
        assert!(got.contains(&line), "node {reader} misses {line} pushed to node {writer} just before");
    }
    let labels = client().get(c.url(0, "/loki/api/v1/label/s/values")).send().unwrap().json();
    assert_eq!(labels["data"].as_array().unwrap().len(), 24, "label values are cluster-wide");
    // Leaders spread over the nodes (8 shards, 3 nodes: at most 3 each).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = client().get(c.url(0, "/cluster/status")).send().unwrap().json();
        let mut count = [0usize; 3];
        for sh in s["shards"].as_array().unwrap() {
            // A shard between leaders (transfer in flight) counts nowhere.
            if let Some(l) = sh["leader"].as_u64() {
                count[l as usize] += 1;
            }
        }
        if count.iter().sum::<usize>() == 8 && count.iter().all(|n| *n <= 3 && *n >= 2) {
            break;
        }
        assert!(Instant::now() < deadline, "leaders not balanced: {count:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let text = client().get(c.url(1, "/cluster/status?format=text")).send().unwrap().text();
    assert!(text.contains("members [0, 1, 2]") && text.contains("shard"), "{text}");
}

#[test]
fn kill_9_of_the_busiest_leader_under_load_loses_nothing() {
    let mut c = Cluster::new();
    c.start_all(&[0, 1, 2]);
    let since = now_ns() - 60_000_000_000;
    let victim = c.busiest_leader(0);
    let live: Vec<String> = (0..3).filter(|i| *i != victim).map(|i| c.url(i, "/loki/api/v1/push")).collect();
    let all: Vec<String> = (0..3).map(|i| c.url(i, "/loki/api/v1/push")).collect();
    let w = Writer::start(all, "k9");
    std::thread::sleep(Duration::from_secs(2));
    c.nodes[victim].kill9();
    std::thread::sleep(Duration::from_secs(5));
    // Writes keep flowing on the other two.
    let w2 = Writer::start(live, "k9b");
    std::thread::sleep(Duration::from_secs(2));
    let (acked2, failed2, gap2) = w2.finish();
    c.nodes[victim].spawn();
    c.nodes[victim].wait_ready(Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let (mut acked, failed, gap) = w.finish();
    eprintln!("kill -9: {} + {} acked, longest wait for an ack {gap:?} / {gap2:?}", acked.len(), acked2.len());
    assert!(failed.is_empty() && failed2.is_empty(), "pushes failed despite retries: {failed:?} {failed2:?}");
    assert!(acked2.len() > 10, "the surviving majority must keep accepting writes");
    acked.extend(acked2);
    assert_every_node_has(&c, &[0, 1, 2], since, &acked);
}

#[test]
fn a_wiped_node_rejoins_and_serves_everything() {
    let mut c = Cluster::new();
    c.start_all(&[0, 1, 2]);
    let since = now_ns() - 60_000_000_000;
    let mut acked = Vec::new();
    for n in 0..60 {
        let line = format!("wipe-{n}");
        assert_eq!(push(&c.url(n % 3, "/loki/api/v1/push"), &format!("s{}", n % 7), now_ns(), &line), 204);
        acked.push(line);
    }
    c.nodes[2].kill9();
    std::fs::remove_dir_all(&c.nodes[2].data).unwrap();
    for n in 60..90 {
        let line = format!("wipe-{n}");
        assert_eq!(push(&c.url(n % 2, "/loki/api/v1/push"), &format!("s{}", n % 7), now_ns(), &line), 204);
        acked.push(line);
    }
    c.nodes[2].spawn();
    c.nodes[2].wait_ready(Duration::from_secs(60));
    assert_every_node_has(&c, &[2, 0, 1], since, &acked);
}

#[test]
fn with_s3_leaders_tier_chunks_and_a_wiped_node_reads_them_back() {
    let moto = common::Moto::start();
    let mut c = Cluster::new();
    for n in &mut c.nodes {
        n.extra.extend(common::s3_flags(moto.port));
    }
    c.start_all(&[0, 1, 2]);
    // Leaders spread out (rebalancing), so that every node uploads.
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.leader_counts(0).iter().any(|n| *n == 0) {
        assert!(Instant::now() < deadline, "leaders never spread: {:?}", c.leader_counts(0));
        std::thread::sleep(Duration::from_millis(300));
    }
    let since = now_ns() - 60_000_000_000;
    let filler = "z".repeat(200);
    let mut acked = Vec::new();
    for batch in 0..40 {
        // Several streams so that several groups (and leaders) seal and upload.
        let values: Vec<_> = (0..25)
            .map(|k| {
                let n = batch * 25 + k;
                acked.push(format!("tier-{n:04} {filler}"));
                json!([(since + n as i64 * 1_000_000).to_string(), format!("tier-{n:04} {filler}")])
            })
            .collect();
        let body =
            json!({"streams": [{"stream": {"app": "cluster", "s": format!("s{}", batch % 5)}, "values": values}]});
        let r = client()
            .post(c.url(batch % 3, "/loki/api/v1/push"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text());
    }
    acked.sort();
    let nodes: Vec<&common::Balsa> = c.nodes.iter().collect();
    let uploaded = common::wait_uploads_settled(&nodes, 10.0, Duration::from_secs(60));
    let leaders_uploading =
        c.nodes.iter().filter(|n| common::metric(n, "balsa_tier_uploaded_chunks_total") > 0.0).count();
    assert!(leaders_uploading >= 2, "uploads come from the leaders of several nodes");
    let objects = moto.keys().len();
    assert!(objects >= 1 && objects as f64 <= uploaded, "{uploaded} chunks in {objects} objects");
    for i in 0..3 {
        let mut got = read_all(&c, i, since);
        got.sort();
        assert_eq!(got, acked, "node {i}");
    }

    // A wiped replica gets the chunk index from its peers and the data from S3.
    c.nodes[2].kill9();
    std::fs::remove_dir_all(&c.nodes[2].data).unwrap();
    c.nodes[2].spawn();
    c.nodes[2].wait_ready(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client()
            .get(c.url(
                2,
                &format!(
                    "/loki/api/v1/query_range?query={}&limit=5000&direction=forward&start={since}",
                    enc(r#"{app="cluster"}"#)
                ),
            ))
            .send()
            .unwrap();
        if r.status() == 200 {
            let mut got = read_all(&c, 2, since);
            got.sort();
            if got == acked {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the wiped node never served everything");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(moto.keys().len(), objects, "the rebuilt replica uploads nothing new");
}

#[test]
fn rolling_restart_under_load_fails_no_retried_push() {
    let mut c = Cluster::new();
    c.start_all(&[0, 1, 2]);
    let since = now_ns() - 60_000_000_000;
    let all: Vec<String> = (0..3).map(|i| c.url(i, "/loki/api/v1/push")).collect();
    let w = Writer::start(all, "roll");
    std::thread::sleep(Duration::from_secs(1));
    for i in [2, 1, 0] {
        let status = c.nodes[i].terminate();
        assert!(status.success(), "node {i} exit {status}: {}", c.nodes[i].log_text());
        c.nodes[i].spawn();
        c.nodes[i].wait_ready(Duration::from_secs(60));
        std::thread::sleep(Duration::from_secs(1));
    }
    let (acked, failed, gap) = w.finish();
    eprintln!("rolling restart: {} acked, longest wait for an ack {gap:?}", acked.len());
    assert!(failed.is_empty(), "pushes failed despite retries: {failed:?}");
    assert!(acked.len() > 20);
    assert_every_node_has(&c, &[0, 1, 2], since, &acked);
}

#[test]
fn a_minority_refuses_writes_and_recovers() {
    let mut c = Cluster::new();
    c.start_all(&[0, 1, 2]);
    let since = now_ns() - 60_000_000_000;
    assert_eq!(push(&c.url(0, "/loki/api/v1/push"), "m", now_ns(), "before"), 204);
    c.nodes[1].kill9();
    c.nodes[2].kill9();
    let started = Instant::now();
    let body =
        json!({"streams": [{"stream": {"app": "cluster", "s": "m"}, "values": [[now_ns().to_string(), "alone"]]}]});
    let r = client()
        .post(c.url(0, "/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 503, "a minority must refuse, not acknowledge: {}", r.text());
    assert!(r.text().contains("unavailable"), "{}", r.text());
    eprintln!("minority refused after {:?}", started.elapsed());
    c.nodes[1].spawn();
    c.nodes[2].spawn();
    c.nodes[1].wait_ready(Duration::from_secs(60));
    c.nodes[2].wait_ready(Duration::from_secs(60));
    assert_eq!(push(&c.url(0, "/loki/api/v1/push"), "m", now_ns(), "after"), 204);
    let got = read_all(&c, 2, since);
    assert!(got.contains(&"before".to_string()) && got.contains(&"after".to_string()), "{got:?}");
}
