//! The ruler with real parts only: three real `balsa` processes, the real
//! Alertmanager (`/usr/bin/prometheus-alertmanager`) delivering to a webhook
//! receiver inside the test, and the real Prometheus
//! (`/usr/bin/prometheus --web.enable-remote-write-receiver`) receiving
//! recorded samples. deploy/dev/setup.sh installs both; a test whose binary
//! is missing prints `SKIPPED: ...` and returns.
//!
//! Between the nodes and Alertmanager sits a transparent recording proxy
//! (every node is given `-ruler.alertmanager_url=http://127.0.0.1:PROXY/n<i>`,
//! so the URL path is the API prefix and tells which node sent a POST; the
//! proxy forwards the body unchanged to Alertmanager's `/api/v2/alerts` and
//! hands its answer back). It lets the tests see what Alertmanager alone
//! cannot show: which node notified, and how often.
//!
//! Every helper (processes, HTTP servers, polling with deadlines) lives in
//! this file; every process is killed on drop, also when a test panics, and
//! node logs are then kept under the system temp dir.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::reqwest::blocking_client as client;
use common::{Balsa, enc, free_port, now_ns};
use serde_json::{Value, json};

const ALERTMANAGER_BIN: &str = "/usr/bin/prometheus-alertmanager";
const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";
const EXTERNAL_URL: &str = "http://grafana.balsa.test:3000";
const SHARDS: u64 = 8;
/// `-ruler.resend_delay` of every test.
const RESEND_DELAY_S: f64 = 2.0;

// ---------------------------------------------------------------- helpers

fn now_s() -> f64 {
    now_ns() as f64 / 1e9
}

fn installed(bin: &str, name: &str) -> bool {
    if Path::new(bin).is_file() {
        return true;
    }
    eprintln!("\n**********************************************************************");
    eprintln!("SKIPPED: {name} not installed ({bin} is missing; run deploy/dev/setup.sh)");
    eprintln!("**********************************************************************\n");
    false
}

/// Polls `probe` every 200 ms until it returns `Ok`, or panics after
/// `timeout` with what it waited for and the last observation.
fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        let last = match probe() {
            Ok(v) => return v,
            Err(e) => e,
        };
        if started.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}; last observation: {last}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// GET returning the JSON of a 200, or why not.
fn get_json(url: &str) -> Result<Value, String> {
    let r = client().get(url).send().map_err(|e| format!("GET {url}: {e}"))?;
    if r.status() != 200 {
        return Err(format!("GET {url}: {} {}", r.status(), r.text()));
    }
    serde_json::from_slice(&r.body).map_err(|e| format!("GET {url}: not JSON ({e}): {}", r.text()))
}

/// Seconds since the epoch of an RFC 3339 time (`2026-01-02T03:04:05.678Z`,
/// any fraction, `Z` or `±hh:mm`).
fn parse_time(s: &str) -> f64 {
    let bad = || -> ! { panic!("not an RFC 3339 time: {s:?}") };
    let (date, rest) = s.split_once('T').unwrap_or_else(|| bad());
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap_or_else(|_| bad())).collect();
    if d.len() != 3 {
        bad();
    }
    let (time, offset) = if let Some(t) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
        (t, 0.0)
    } else {
        let at = rest.rfind(['+', '-']).unwrap_or_else(|| bad());
        let (t, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1.0 } else { 1.0 };
        let (h, m) = off[1..].split_once(':').unwrap_or_else(|| bad());
        let h: f64 = h.parse().unwrap_or_else(|_| bad());
        let m: f64 = m.parse().unwrap_or_else(|_| bad());
        (t, sign * (h * 3600.0 + m * 60.0))
    };
    let hms: Vec<f64> = time.split(':').map(|p| p.parse().unwrap_or_else(|_| bad())).collect();
    if hms.len() != 3 {
        bad();
    }
    // Howard Hinnant's days_from_civil.
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + hms[0] * 3600.0 + hms[1] * 60.0 + hms[2] - offset
}

/// Pushes `lines` as one stream, timestamps `ts_ns`, `ts_ns + 1`, ...
fn push(node: &Balsa, labels: Value, lines: &[String], ts_ns: i64) {
    let values: Vec<Value> =
        lines.iter().enumerate().map(|(k, l)| json!([(ts_ns + k as i64).to_string(), l])).collect();
    let body = json!({"streams": [{"stream": labels, "values": values}]});
    let r = client()
        .post(node.url("/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "push: {}", r.text());
}

/// `loki_prometheus_rule_evaluations_total` of group `group` (any namespace)
/// of tenant `fake` on one node; 0 when absent.
fn evaluations(node: &Balsa, group: &str) -> Result<f64, String> {
    let r = client().get(node.url("/metrics")).send().map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("/metrics: {}", r.status()));
    }
    let suffix = format!(";{group}\"");
    Ok(r.text()
        .lines()
        .filter(|l| l.starts_with("loki_prometheus_rule_evaluations_total{"))
        .filter(|l| l.contains(&suffix) && l.contains("user=\"fake\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// The active alerts a node reports (`/prometheus/api/v1/alerts`).
fn node_alerts(node: &Balsa) -> Result<Vec<Value>, String> {
    let v = get_json(&node.url("/prometheus/api/v1/alerts"))?;
    v["data"]["alerts"].as_array().cloned().ok_or_else(|| format!("no data.alerts in {v}"))
}

fn alertname(a: &Value) -> &str {
    a["labels"]["alertname"].as_str().unwrap_or_default()
}

fn find<'a>(alerts: &'a [Value], name: &str) -> Option<&'a Value> {
    alerts.iter().find(|a| alertname(a) == name)
}

/// The groups a node lists in `/prometheus/api/v1/rules`.
fn prom_groups(node: &Balsa, query: &str) -> Result<Vec<Value>, String> {
    let v = get_json(&node.url(&format!("/prometheus/api/v1/rules{query}")))?;
    v["data"]["groups"].as_array().cloned().ok_or_else(|| format!("no data.groups in {v}"))
}

fn group_names(groups: &[Value]) -> BTreeSet<String> {
    groups.iter().filter_map(|g| g["name"].as_str().map(String::from)).collect()
}

/// The partition a group hashes to, as the ruler computes it (xxh3 of
/// `tenant\0namespace\0group`); only a hint to place two groups together.
fn shard_of_group(namespace: &str, group: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(format!("fake\0{namespace}\0{group}").as_bytes()) % SHARDS
}

// ------------------------------------------------------- external processes

/// A child process (Alertmanager, Prometheus) killed on drop; its output
/// goes to a log file that is printed when the test panics.
struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Proc {
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name: name.into(), child: Some(child), log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self, url: &str, timeout: Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("{} exited early with {status}: {}", self.name, self.log_text());
            }
            if client().get(url).send().is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(started.elapsed() < timeout, "{} not ready after {timeout:?}: {}", self.name, self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            eprintln!("---- {} log (last 25 lines) ----", self.name);
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

struct Alertmanager {
    _proc: Proc,
    port: u16,
}

impl Alertmanager {
    /// Routes everything to one webhook receiver: notifications at once
    /// (`group_wait: 0s`), group changes within a second
    /// (`group_interval: 1s`), and never a repeat within a test
    /// (`repeat_interval: 1h`), so every notification the receiver gets
    /// means that the group's firing or resolved set changed.
    fn start(dir: &Path, webhook_port: u16) -> Alertmanager {
        let dir = dir.join("alertmanager");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            r#"route:
  receiver: hook
  group_by: ['alertname']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{webhook_port}/hook
        send_resolved: true
"#
        );
        std::fs::write(dir.join("am.yml"), config).unwrap();
        let port = free_port();
        let mut proc = Proc::spawn(
            "alertmanager",
            Command::new(ALERTMANAGER_BIN)
                .arg(format!("--config.file={}", dir.join("am.yml").display()))
                .arg(format!("--storage.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address="),
            dir.join("alertmanager.log"),
        );
        proc.wait_ready(&format!("http://127.0.0.1:{port}/-/ready"), Duration::from_secs(30));
        Alertmanager { _proc: proc, port }
    }

    /// `GET /api/v2/alerts`: the active alerts.
    fn alerts(&self) -> Result<Vec<Value>, String> {
        let v = get_json(&format!("http://127.0.0.1:{}/api/v2/alerts", self.port))?;
        v.as_array().cloned().ok_or_else(|| format!("not an array: {v}"))
    }
}

struct Prometheus {
    _proc: Proc,
    port: u16,
}

impl Prometheus {
    fn start(dir: &Path) -> Prometheus {
        let dir = dir.join("prometheus");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("p.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
        let port = free_port();
        let mut proc = Proc::spawn(
            "prometheus",
            Command::new(PROMETHEUS_BIN)
                .arg(format!("--config.file={}", dir.join("p.yml").display()))
                .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver"),
            dir.join("prometheus.log"),
        );
        proc.wait_ready(&format!("http://127.0.0.1:{port}/-/ready"), Duration::from_secs(60));
        Prometheus { _proc: proc, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

// ------------------------------------------------------------- HTTP servers

/// One request an [`HttpSink`] received.
#[derive(Clone, Debug)]
struct Captured {
    /// Wall clock, seconds since the epoch, when the request was complete.
    wall: f64,
    method: String,
    path: String,
    body: Vec<u8>,
}

impl Captured {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

type Handler = Arc<dyn Fn(&Captured) -> (u16, Vec<u8>) + Send + Sync>;

/// A tiny HTTP/1.1 server on std: one request per connection (it answers
/// `Connection: close`), every request recorded.
struct HttpSink {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Captured>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpSink {
    fn start(handler: Handler) -> HttpSink {
        let (listener, port) = loop {
            let port = free_port();
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                break (l, port);
            }
        };
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (r, h) = (r.clone(), handler.clone());
                        std::thread::spawn(move || serve(conn, r, h));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HttpSink { port, stop, requests, thread: Some(thread) }
    }

    /// Alertmanager's webhook receiver: 200 to everything.
    fn webhook() -> HttpSink {
        HttpSink::start(Arc::new(|_| (200, Vec::new())))
    }

    /// The recording proxy: `POST /n<i>/api/v2/alerts` goes unchanged to
    /// Alertmanager's `/api/v2/alerts`, whose status and body come back.
    fn alertmanager_proxy(am_port: u16) -> HttpSink {
        HttpSink::start(Arc::new(move |req| {
            let Some(rest) = req.path.strip_prefix("/n").and_then(|p| p.split_once('/')).map(|(_, r)| r) else {
                return (404, b"unknown prefix".to_vec());
            };
            let url = format!("http://127.0.0.1:{am_port}/{rest}");
            let r = match req.method.as_str() {
                "POST" => client().post(url).header("content-type", "application/json").body(req.body.clone()).send(),
                _ => client().get(url).send(),
            };
            match r {
                Ok(r) => (r.status(), r.body),
                Err(e) => (502, e.to_string().into_bytes()),
            }
        }))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, requests: Arc<Mutex<Vec<Captured>>>, handler: Handler) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = buf[head_end..].to_vec();
    if chunked {
        // Read to the terminating chunk, then decode.
        while !body.windows(5).any(|w| w == b"0\r\n\r\n") {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        let mut decoded = Vec::new();
        let mut rest = &body[..];
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
            if size == 0 || rest.len() < i + 2 + size {
                break;
            }
            decoded.extend_from_slice(&rest[i + 2..i + 2 + size]);
            rest = &rest[(i + 4 + size).min(rest.len())..];
        }
        body = decoded;
    } else {
        while body.len() < length {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        body.truncate(length);
    }
    let req = Captured { wall: now_s(), method, path, body };
    let (status, reply) = handler(&req);
    requests.lock().unwrap().push(req);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&reply);
    let _ = conn.flush();
}

/// One alert a node POSTed to Alertmanager through the proxy.
#[derive(Clone, Debug)]
struct Sent {
    wall: f64,
    node: usize,
    alert: Value,
}

fn sent_alerts(proxy: &HttpSink) -> Vec<Sent> {
    let mut out = Vec::new();
    for r in proxy.requests() {
        if r.method != "POST" || !r.path.ends_with("/api/v2/alerts") {
            continue;
        }
        let node: usize = r.path[2..].split('/').next().unwrap().parse().unwrap();
        for a in r.json().as_array().cloned().unwrap_or_default() {
            out.push(Sent { wall: r.wall, node, alert: a });
        }
    }
    out
}

/// The webhook notifications Alertmanager delivered: (time, body).
fn notifications(webhook: &HttpSink) -> Vec<(f64, Value)> {
    webhook.requests().into_iter().filter(|r| r.method == "POST").map(|r| (r.wall, r.json())).collect()
}

/// Notifications concerning alert `name`: (time, notification status, alert).
fn notified(webhook: &HttpSink, name: &str) -> Vec<(f64, String, Value)> {
    let mut out = Vec::new();
    for (t, n) in notifications(webhook) {
        for a in n["alerts"].as_array().cloned().unwrap_or_default() {
            if alertname(&a) == name {
                out.push((t, n["status"].as_str().unwrap_or_default().to_string(), a));
            }
        }
    }
    out
}

// ------------------------------------------------------------------ nodes

/// Balsa nodes sharing one rules directory, killed on drop; on a panic
/// their logs are kept in the temp dir and their tails printed.
struct Cluster {
    label: &'static str,
    nodes: Vec<Balsa>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let log = n.log_text();
            let keep = std::env::temp_dir().join(format!("balsa-ruler-{}-node{i}.log", self.label));
            let _ = std::fs::write(&keep, &log);
            eprintln!("node {i} full log kept at {}", keep.display());
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("---- node {i} log (last 30 lines) ----");
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// `<tmp>/rules/fake`, created empty.
fn rules_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("rules");
    std::fs::create_dir_all(dir.join("fake")).unwrap();
    dir
}

impl Cluster {
    /// `n` nodes (8 shards when more than one) with the ruler reading
    /// `rules`, evaluating every second, plus `extra(i)` flags for node `i`.
    fn start(label: &'static str, n: usize, tmp: &Path, rules: &Path, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        let http: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let grpc: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peers = grpc.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let mut nodes: Vec<Balsa> = (0..n)
            .map(|i| {
                let mut flags = vec![
                    "-ruler.storage.type=local".to_string(),
                    format!("-ruler.storage.local.directory={}", rules.display()),
                    "-ruler.evaluation_interval=1s".into(),
                    "-ruler.poll_interval=1s".into(),
                    format!("-ruler.resend_delay={RESEND_DELAY_S}s"),
                    format!("-ruler.external_url={EXTERNAL_URL}"),
                ];
                if n > 1 {
                    flags.extend([
                        format!("-cluster.node_id={i}"),
                        format!("-cluster.peers={peers}"),
                        format!("-cluster.shards={SHARDS}"),
                    ]);
                }
                flags.extend(extra(i));
                Balsa::new(&tmp.join(format!("n{i}")), http[i], grpc[i], &flags)
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        let mut c = Cluster { label, nodes: Vec::new() };
        // Owned by `c` before waiting, so a node that fails to start is killed
        // and its log printed.
        c.nodes = nodes;
        for node in &mut c.nodes {
            node.wait_ready(Duration::from_secs(60));
        }
        c
    }

    /// Shard leaders per node, from node `asker`'s `/cluster/status`.
    fn leader_counts(&self, asker: usize) -> Result<Vec<usize>, String> {
        let s = get_json(&self.nodes[asker].url("/cluster/status"))?;
        let mut count = vec![0usize; self.nodes.len()];
        for sh in s["shards"].as_array().ok_or("no shards")? {
            if let Some(l) = sh["leader"].as_u64() {
                count[l as usize] += 1;
            }
        }
        Ok(count)
    }

    /// Waits until every shard has a leader and no node leads more than its
    /// share, twice in a row: leadership then stays put (the balancer moves
    /// leaders only away from a node leading more than `ceil(8/3)`), so a
    /// rule file written afterwards is evaluated by one node only.
    fn wait_balanced(&self) {
        if self.nodes.len() < 2 {
            return;
        }
        let share = (SHARDS as usize).div_ceil(self.nodes.len());
        let mut good = 0;
        wait_until("shard leaders to be balanced", Duration::from_secs(45), || {
            let counts = self.leader_counts(0)?;
            if counts.iter().sum::<usize>() == SHARDS as usize && counts.iter().all(|c| *c <= share) {
                good += 1;
            } else {
                good = 0;
            }
            if good >= 3 { Ok(()) } else { Err(format!("leaders per node {counts:?}")) }
        });
    }

    /// Waits until every node lists the groups `names` in `/prometheus/api/v1/rules`.
    fn wait_groups_listed(&self, names: &[&str], timeout: Duration) {
        for (i, node) in self.nodes.iter().enumerate() {
            wait_until(&format!("node {i} to list groups {names:?}"), timeout, || {
                let have = group_names(&prom_groups(node, "")?);
                if names.iter().all(|n| have.contains(*n)) { Ok(()) } else { Err(format!("listed {have:?}")) }
            });
        }
    }
}

fn yaml(text: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}): {text}"))
}

fn post_group(node: &Balsa, path: &str, body: &str) -> common::reqwest::Resp {
    client().post(node.url(path)).header("content-type", "application/yaml").body(body.to_string()).send().unwrap()
}

fn loki_accepted() -> Value {
    json!({"status": "success", "data": null, "errorType": "", "error": ""})
}

// ------------------------------------------------------------------- tests

const ERROR_RULES: &str = r#"groups:
  - name: errors
    rules:
      - alert: AppErrors
        expr: sum by (team) (count_over_time({job="app"} |= "error" [1m])) > 0
        for: 3s
        labels:
          severity: page
          team: "{{ $labels.team }}"
          owner: "team-{{ $labels.team }}"
        annotations:
          summary: "{{ $value }} errors for {{ $labels.team }}"
"#;

/// One alert rule in a file shared by three nodes: pending for `for`, then
/// firing on every node's API, one alert in Alertmanager with the rendered
/// labels and annotations, one webhook notification, and evaluations and
/// notifications from one node only.
#[test]
fn alert_fires_once_through_alertmanager_from_three_nodes() {
    if !installed(ALERTMANAGER_BIN, "prometheus-alertmanager") {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let webhook = HttpSink::webhook();
    let am = Alertmanager::start(tmp.path(), webhook.port);
    let proxy = HttpSink::alertmanager_proxy(am.port);
    let rules = rules_dir(tmp.path());
    let c = Cluster::start("fires-once", 3, tmp.path(), &rules, |i| {
        vec![format!("-ruler.alertmanager_url={}", proxy.url(&format!("/n{i}")))]
    });
    c.wait_balanced();
    // Written once leadership is settled, so that exactly one node ever evaluates it.
    std::fs::write(rules.join("fake/alerts.yaml"), ERROR_RULES).unwrap();
    c.wait_groups_listed(&["errors"], Duration::from_secs(15));

    let mut lines: Vec<String> = (0..5).map(|k| format!("level=error msg=\"payment failed\" n={k}")).collect();
    lines.extend((0..2).map(|k| format!("level=info msg=ok n={k}")));
    push(&c.nodes[1], json!({"job": "app", "team": "payments"}), &lines, now_ns() - 1_000_000_000);

    // Every node: pending first, then firing, with one activeAt.
    #[derive(Default, Debug)]
    struct Seen {
        pending: Option<f64>,
        firing: Option<f64>,
        active_at: BTreeSet<String>,
        firing_alert: Option<Value>,
    }
    let mut seen: Vec<Seen> = (0..3).map(|_| Seen::default()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.iter().any(|s| s.firing.is_none()) {
        assert!(Instant::now() < deadline, "the alert did not fire on every node in time: {seen:#?}");
        for (i, node) in c.nodes.iter().enumerate() {
            let Ok(alerts) = node_alerts(node) else { continue };
            let Some(a) = find(&alerts, "AppErrors") else { continue };
            let t = now_s();
            let s = &mut seen[i];
            s.active_at.insert(a["activeAt"].as_str().unwrap_or_default().to_string());
            match a["state"].as_str() {
                Some("pending") => {
                    s.pending.get_or_insert(t);
                }
                Some("firing") => {
                    s.firing.get_or_insert(t);
                    s.firing_alert.get_or_insert(a.clone());
                }
                other => panic!("node {i}: unexpected alert state {other:?} in {a}"),
            }
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let active: BTreeSet<&String> = seen.iter().flat_map(|s| &s.active_at).collect();
    assert_eq!(active.len(), 1, "the nodes disagree on activeAt: {seen:#?}");
    let active_at = parse_time(active.into_iter().next().unwrap());
    for (i, s) in seen.iter().enumerate() {
        let (firing, pending) = (s.firing.unwrap(), s.pending);
        assert!(pending.is_some_and(|p| p < firing), "node {i} never showed the alert pending before firing: {s:#?}");
        assert!(
            firing >= active_at + 3.0 - 0.3,
            "node {i} showed the alert firing {:.2}s after activeAt, before `for: 3s` passed",
            firing - active_at
        );
        let a = s.firing_alert.as_ref().unwrap();
        assert_eq!(a["labels"]["team"], "payments", "node {i}: {a}");
        assert_eq!(a["labels"]["severity"], "page", "node {i}: {a}");
        assert_eq!(a["labels"]["owner"], "team-payments", "node {i}: {a}");
        assert_eq!(a["annotations"]["summary"], "5 errors for payments", "node {i}: {a}");
    }

    // Alertmanager holds exactly one alert, rendered.
    let am_alert = wait_until("the alert in Alertmanager", Duration::from_secs(15), || {
        let alerts = am.alerts()?;
        if alerts.is_empty() { Err("no alerts".into()) } else { Ok(alerts) }
    });
    assert_eq!(am_alert.len(), 1, "Alertmanager must hold exactly one alert: {am_alert:#?}");
    let a = &am_alert[0];
    assert_eq!(a["labels"]["alertname"], "AppErrors", "{a}");
    assert_eq!(a["labels"]["team"], "payments", "{a}");
    assert_eq!(a["labels"]["severity"], "page", "{a}");
    assert_eq!(a["labels"]["owner"], "team-payments", "{a}");
    assert_eq!(a["annotations"]["summary"], "5 errors for payments", "{a}");
    assert_eq!(a["status"]["state"], "active", "{a}");
    let generator = a["generatorURL"].as_str().unwrap_or_default();
    assert!(
        generator.starts_with(EXTERNAL_URL) && generator.contains("explore"),
        "generatorURL should be the Grafana Explore link under -ruler.external_url: {a}"
    );
    // startsAt is when the alert fired: between activeAt + for and one interval later.
    let starts = parse_time(a["startsAt"].as_str().unwrap());
    assert!(
        starts >= active_at + 3.0 - 0.01 && starts <= active_at + 3.0 + 2.5,
        "startsAt {:.3}s after activeAt, want ~3s (for): {a}",
        starts - active_at
    );

    // The webhook receiver got the firing notification.
    let firing = wait_until("the firing webhook notification", Duration::from_secs(15), || {
        let n = notified(&webhook, "AppErrors");
        if n.is_empty() { Err(format!("notifications so far: {:?}", notifications(&webhook))) } else { Ok(n) }
    });
    let (_, status, alert) = &firing[0];
    assert_eq!(status, "firing", "{firing:?}");
    assert_eq!(alert["labels"]["owner"], "team-payments", "{alert}");
    assert_eq!(alert["annotations"]["summary"], "5 errors for payments", "{alert}");
    assert!(alert["generatorURL"].as_str().is_some_and(|u| u.starts_with(EXTERNAL_URL)), "{alert}");

    // One node evaluates, and it alone notifies.
    let evals: Vec<f64> = c.nodes.iter().map(|n| evaluations(n, "errors").unwrap()).collect();
    let owners: Vec<usize> = (0..3).filter(|i| evals[*i] > 0.0).collect();
    assert_eq!(owners.len(), 1, "loki_prometheus_rule_evaluations_total of the group per node: {evals:?}");
    let senders: BTreeSet<usize> = sent_alerts(&proxy).iter().map(|s| s.node).collect();
    assert_eq!(senders, BTreeSet::from([owners[0]]), "alerts must come from the evaluating node only ({evals:?})");
    std::thread::sleep(Duration::from_secs(2));
    let n = notified(&webhook, "AppErrors");
    assert_eq!(n.len(), 1, "one notification only (nothing resolved, nothing repeated): {n:?}");
    eprintln!("alert_fires_once: evaluations per node {evals:?}; took {:?}", started.elapsed());
}

/// A recording rule's samples reach the real Prometheus through remote
/// write, with the rule's labels and the exact count, from one node.
#[test]
fn recording_rule_is_remote_written_to_prometheus() {
    if !installed(PROMETHEUS_BIN, "prometheus") {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let prom = Prometheus::start(tmp.path());
    let rules = rules_dir(tmp.path());
    // Remote-write clients are a map: only a config file can set them.
    let config = tmp.path().join("balsa.yaml");
    std::fs::write(
        &config,
        format!(
            "ruler:\n  remote_write:\n    enabled: true\n    clients:\n      prom:\n        url: {}\n",
            prom.url("/api/v1/write")
        ),
    )
    .unwrap();
    let c = Cluster::start("remote-write", 3, tmp.path(), &rules, |_| {
        vec![format!("-config.file={}", config.display()), "-ruler.remote_write.enabled=true".into()]
    });
    c.wait_balanced();
    std::fs::write(
        rules.join("fake/recording.yaml"),
        r#"groups:
  - name: recording
    rules:
      - record: app:lines:rate1m
        expr: sum by (job) (count_over_time({job="app"}[1m]))
        labels:
          source: balsa-ruler-test
"#,
    )
    .unwrap();
    c.wait_groups_listed(&["recording"], Duration::from_secs(15));

    // 7 lines in two streams, all pushed at once just before now: every
    // evaluation within the next minute counts exactly 7.
    const N: usize = 7;
    let ts = now_ns() - 1_000_000_000;
    let a: Vec<String> = (0..4).map(|k| format!("a line {k}")).collect();
    let b: Vec<String> = (0..N - 4).map(|k| format!("b line {k}")).collect();
    let pushed_at = now_s();
    push(&c.nodes[2], json!({"job": "app", "pod": "a"}), &a, ts);
    push(&c.nodes[0], json!({"job": "app", "pod": "b"}), &b, ts);

    let query = prom.url(&format!("/api/v1/query?query={}", enc("app:lines:rate1m")));
    let result = wait_until("Prometheus to return app:lines:rate1m = 7", Duration::from_secs(40), || {
        let v = get_json(&query)?;
        let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
        if result.iter().any(|s| s["value"][1] == N.to_string()) { Ok(result) } else { Err(format!("{v}")) }
    });
    assert_eq!(result.len(), 1, "one series: {result:#?}");
    assert_eq!(
        result[0]["metric"],
        json!({"__name__": "app:lines:rate1m", "job": "app", "source": "balsa-ruler-test"}),
        "the series' labels: the result's (job), the rule's, and __name__"
    );
    // No sample ever exceeded the number of lines pushed.
    let range = prom.url(&format!(
        "/api/v1/query_range?query={}&start={:.3}&end={:.3}&step=1",
        enc("app:lines:rate1m"),
        pushed_at - 5.0,
        now_s()
    ));
    let v = get_json(&range).unwrap();
    for s in v["data"]["result"].as_array().unwrap() {
        for p in s["values"].as_array().unwrap() {
            let x: f64 = p[1].as_str().unwrap().parse().unwrap();
            assert!(x <= N as f64, "a sample of {x} > {N} lines: {v}");
        }
    }
    // Only the node evaluating the group sends samples.
    let sent: Vec<f64> =
        c.nodes.iter().map(|n| common::metric(n, "loki_ruler_wal_prometheus_remote_storage_samples_total")).collect();
    let evals: Vec<f64> = c.nodes.iter().map(|n| evaluations(n, "recording").unwrap()).collect();
    assert_eq!(evals.iter().filter(|e| **e > 0.0).count(), 1, "evaluations per node: {evals:?}");
    assert_eq!(
        sent.iter().filter(|s| **s > 0.0).count(),
        1,
        "loki_ruler_wal_prometheus_remote_storage_samples_total per node: {sent:?} (evaluations {evals:?})"
    );
    eprintln!("recording_rule: samples sent per node {sent:?}; took {:?}", started.elapsed());
}

/// kill -9 of the node evaluating a group with a pending alert (and, placed
/// on the same shard, a group with a firing alert): the new owner keeps the
/// `for` timer (the alert fires at its original activeAt + for), the firing
/// alert stays firing, and nobody sends an alert again before resend_delay.
#[test]
fn failover_keeps_for_timers_and_firing_alerts() {
    if !installed(ALERTMANAGER_BIN, "prometheus-alertmanager") {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let webhook = HttpSink::webhook();
    let am = Alertmanager::start(tmp.path(), webhook.port);
    let proxy = HttpSink::alertmanager_proxy(am.port);
    let rules = rules_dir(tmp.path());
    let mut c = Cluster::start("failover", 3, tmp.path(), &rules, |i| {
        vec![format!("-ruler.alertmanager_url={}", proxy.url(&format!("/n{i}")))]
    });
    c.wait_balanced();

    // Both groups on one shard (if the hash is computed as we think), so
    // that killing one node moves both.
    const NS: &str = "failover.yaml";
    let slow = "slow";
    let fast =
        (0..1000).map(|k| format!("fast-{k}")).find(|g| shard_of_group(NS, g) == shard_of_group(NS, slow)).unwrap();
    const FOR_S: f64 = 20.0;
    std::fs::write(
        rules.join("fake").join(NS),
        format!(
            r#"groups:
  - name: {slow}
    rules:
      - alert: SlowBurn
        expr: sum(count_over_time({{job="slow"}}[5m])) > 0
        for: 20s
        labels:
          severity: ticket
        annotations:
          summary: slow burn
  - name: {fast}
    rules:
      - alert: FastFire
        expr: sum(count_over_time({{job="fast"}}[5m])) > 0
        for: 1s
        labels:
          severity: page
        annotations:
          summary: fast fire
"#
        ),
    )
    .unwrap();
    c.wait_groups_listed(&[slow, &fast], Duration::from_secs(15));
    let ts = now_ns() - 1_000_000_000;
    push(&c.nodes[0], json!({"job": "slow"}), &["s1".into(), "s2".into()], ts);
    push(&c.nodes[0], json!({"job": "fast"}), &["f1".into(), "f2".into()], ts);

    // FastFire firing and delivered; SlowBurn pending.
    let slow_active = wait_until("FastFire firing and SlowBurn pending", Duration::from_secs(20), || {
        let alerts = node_alerts(&c.nodes[0])?;
        match (find(&alerts, "FastFire"), find(&alerts, "SlowBurn")) {
            (Some(f), Some(s)) if f["state"] == "firing" && s["state"] == "pending" => {
                Ok(s["activeAt"].as_str().unwrap().to_string())
            }
            _ => Err(format!("{alerts:?}")),
        }
    });
    let active_at = parse_time(&slow_active);
    let fast_starts = wait_until("FastFire in Alertmanager and at the webhook", Duration::from_secs(15), || {
        let alerts = am.alerts()?;
        let a = find(&alerts, "FastFire").ok_or(format!("Alertmanager has {alerts:?}"))?;
        if notified(&webhook, "FastFire").is_empty() {
            return Err("no webhook notification yet".into());
        }
        Ok(a["startsAt"].as_str().unwrap().to_string())
    });
    let fast_active = find(&node_alerts(&c.nodes[0]).unwrap(), "FastFire").unwrap()["activeAt"].clone();

    // The owners: the nodes whose evaluation counters grow.
    let before: Vec<(f64, f64)> =
        c.nodes.iter().map(|n| (evaluations(n, slow).unwrap(), evaluations(n, &fast).unwrap())).collect();
    std::thread::sleep(Duration::from_millis(2500));
    let after: Vec<(f64, f64)> =
        c.nodes.iter().map(|n| (evaluations(n, slow).unwrap(), evaluations(n, &fast).unwrap())).collect();
    let slow_owners: Vec<usize> = (0..3).filter(|i| after[*i].0 > before[*i].0).collect();
    let fast_owners: Vec<usize> = (0..3).filter(|i| after[*i].1 > before[*i].1).collect();
    assert_eq!(slow_owners.len(), 1, "one node evaluates {slow}: {before:?} -> {after:?}");
    assert_eq!(fast_owners.len(), 1, "one node evaluates {fast}: {before:?} -> {after:?}");
    let victim = slow_owners[0];
    eprintln!(
        "failover: {slow} on node {victim}, {fast} on node {} (shard {} by our hash)",
        fast_owners[0],
        shard_of_group(NS, slow)
    );

    // Kill well into the `for` window, so that "fires at activeAt + for"
    // and "fires at kill time + for" are far apart.
    while now_s() < active_at + 6.0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed_at = now_s();
    assert!(killed_at < active_at + 12.0, "too slow to kill within the `for` window");
    c.nodes[victim].kill9();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();

    // Watch the survivors and Alertmanager until SlowBurn has fired and a few seconds more.
    let mut slow_active_seen: BTreeSet<String> = BTreeSet::new();
    let mut fast_active_seen: BTreeSet<String> = BTreeSet::new();
    let mut slow_firing_seen: Option<f64> = None;
    let mut fast_not_firing: Vec<String> = Vec::new();
    let mut fast_absent_on_nodes = 0usize;
    let mut am_missing_fast: Vec<f64> = Vec::new();
    let mut am_fast_starts: BTreeSet<String> = BTreeSet::new();
    let mut am_slow_starts: Option<String> = None;
    let deadline = active_at + FOR_S + 20.0;
    loop {
        for &i in &survivors {
            let Ok(alerts) = node_alerts(&c.nodes[i]) else { continue };
            let t = now_s();
            match find(&alerts, "SlowBurn") {
                Some(s) => {
                    slow_active_seen.insert(s["activeAt"].as_str().unwrap_or_default().to_string());
                    if s["state"] == "firing" {
                        slow_firing_seen.get_or_insert(t);
                    }
                }
                None => {}
            }
            match find(&alerts, "FastFire") {
                Some(f) => {
                    fast_active_seen.insert(f["activeAt"].as_str().unwrap_or_default().to_string());
                    if f["state"] != "firing" {
                        fast_not_firing.push(format!("node {i} at +{:.1}s: {f}", t - killed_at));
                    }
                }
                None => fast_absent_on_nodes += 1,
            }
        }
        if let Ok(alerts) = am.alerts() {
            match find(&alerts, "FastFire") {
                Some(a) => {
                    am_fast_starts.insert(a["startsAt"].as_str().unwrap_or_default().to_string());
                }
                None => am_missing_fast.push(now_s() - killed_at),
            }
            if let Some(a) = find(&alerts, "SlowBurn") {
                am_slow_starts.get_or_insert(a["startsAt"].as_str().unwrap_or_default().to_string());
            }
        }
        let done = slow_firing_seen.is_some_and(|t| now_s() > t + 4.0) && am_slow_starts.is_some();
        if done || now_s() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    // The pending alert resumed its timer.
    let fired = slow_firing_seen.unwrap_or_else(|| {
        panic!(
            "SlowBurn never fired on the survivors (activeAt {slow_active}, killed at +{:.1}s, seen activeAt {slow_active_seen:?})",
            killed_at - active_at
        )
    });
    assert_eq!(
        slow_active_seen,
        BTreeSet::from([slow_active.clone()]),
        "SlowBurn's activeAt must survive the failover unchanged"
    );
    assert!(
        fired >= active_at + FOR_S - 0.3 && fired <= active_at + FOR_S + 4.0,
        "SlowBurn showed firing {:.1}s after activeAt; want {FOR_S}s (the kill was at +{:.1}s, so a restarted timer fires at +{:.1}s)",
        fired - active_at,
        killed_at - active_at,
        killed_at - active_at + FOR_S
    );
    let slow_starts = parse_time(am_slow_starts.as_deref().expect("SlowBurn never reached Alertmanager"));
    assert!(
        slow_starts >= active_at + FOR_S - 0.01 && slow_starts <= active_at + FOR_S + 2.5,
        "SlowBurn's startsAt in Alertmanager is {:.1}s after activeAt; want {FOR_S}s (kill at +{:.1}s)",
        slow_starts - active_at,
        killed_at - active_at
    );

    // The firing alert stayed firing.
    assert!(fast_not_firing.is_empty(), "FastFire reported not firing after the kill: {fast_not_firing:#?}");
    assert!(
        fast_active_seen.iter().all(|a| Value::String(a.clone()) == fast_active),
        "FastFire's activeAt changed: {fast_active} -> {fast_active_seen:?}"
    );
    if fast_absent_on_nodes > 0 {
        eprintln!("note: FastFire was missing from a survivor's alert list {fast_absent_on_nodes} times");
    }
    assert!(am_missing_fast.is_empty(), "Alertmanager lost FastFire after the kill at +{am_missing_fast:?}s");
    assert_eq!(
        am_fast_starts,
        BTreeSet::from([fast_starts.clone()]),
        "FastFire's startsAt in Alertmanager must not change (a change means it was resolved and fired anew)"
    );
    let n = notified(&webhook, "FastFire");
    assert!(n.iter().all(|(_, s, a)| s == "firing" && a["status"] == "firing"), "FastFire notified resolved: {n:#?}");
    assert_eq!(n.len(), 1, "one FastFire notification: nothing resolved or re-fired in between: {n:#?}");

    // What the nodes POSTed. Never a resolved FastFire (endsAt in the past),
    // and the same alert never twice within resend_delay from whichever node
    // (Alertmanager de-duplicates such repeats silently, so only the proxy sees them).
    let sent = sent_alerts(&proxy);
    for s in sent.iter().filter(|s| alertname(&s.alert) == "FastFire") {
        let ends = s.alert["endsAt"].as_str().map(parse_time).unwrap_or(f64::INFINITY);
        assert!(ends > s.wall, "node {} sent FastFire as resolved: {}", s.node, s.alert);
    }
    for name in ["FastFire", "SlowBurn"] {
        let times: Vec<(f64, usize)> =
            sent.iter().filter(|s| alertname(&s.alert) == name).map(|s| (s.wall, s.node)).collect();
        let rel: Vec<String> = times.iter().map(|(t, n)| format!("{:+.2}s@n{n}", t - killed_at)).collect();
        eprintln!("{name} sends relative to the kill: {rel:?}");
        for w in times.windows(2) {
            assert!(
                w[1].0 - w[0].0 >= RESEND_DELAY_S - 0.6,
                "{name} sent twice within resend_delay ({RESEND_DELAY_S}s): {rel:?}"
            );
        }
        assert!(times.iter().any(|(t, _)| *t > killed_at), "{name} was never sent after the failover: {rel:?}");
        assert!(
            times.iter().filter(|(t, _)| *t > killed_at + 0.5).all(|(_, n)| *n != victim),
            "the killed node cannot send"
        );
    }
    eprintln!("failover: took {:?}", started.elapsed());
}

const CRUD_GROUP: &str = r#"name: crud-group
interval: 1m
rules:
  - alert: CrudHighErrors
    expr: sum(count_over_time({job="app"} |= "error" [5m])) > 10
    for: 1m
    labels:
      severity: warn
    annotations:
      summary: "{{ $value }} errors"
  - record: crud:errors:count5m
    expr: sum(count_over_time({job="app"} |= "error" [5m]))
    labels:
      source: api
"#;

/// The rules API on three nodes: a group posted to one is served by the
/// others at once, and deleted through a third; Loki's codes and bodies.
#[test]
fn rules_api_crud_across_nodes() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let rules = rules_dir(tmp.path());
    let c = Cluster::start("crud", 3, tmp.path(), &rules, |_| Vec::new());
    let n = &c.nodes;

    // Nothing yet.
    let r = client().get(n[1].url("/loki/api/v1/rules")).send().unwrap();
    assert_eq!(r.status(), 404, "no groups yet: {}", r.text());
    assert!(r.text().contains("no rule groups found"), "{}", r.text());
    // Grafana's probe of the ruler API.
    let r = client().get(n[0].url("/api/prom/rules/test/test")).send().unwrap();
    assert_eq!(r.status(), 404, "{}", r.text());
    assert!(r.text().contains("group does not exist"), "{}", r.text());

    // Create on node 0.
    let r = post_group(&n[0], "/loki/api/v1/rules/ns1", CRUD_GROUP);
    assert_eq!(r.status(), 202, "{}", r.text());
    assert_eq!(r.json(), loki_accepted());

    // Read on node 1 right away, through both prefixes, and on node 2.
    for (i, path) in [
        (1, "/loki/api/v1/rules/ns1/crud-group"),
        (1, "/api/prom/rules/ns1/crud-group"),
        (2, "/loki/api/v1/rules/ns1/crud-group"),
    ] {
        let r = client().get(n[i].url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "node {i} {path}: {}", r.text());
        let g = yaml(&r.text());
        assert_eq!(g["name"].as_str(), Some("crud-group"), "{}", r.text());
        assert_eq!(g["interval"].as_str(), Some("1m"), "{}", r.text());
        let rules = g["rules"].as_sequence().unwrap();
        assert_eq!(rules.len(), 2, "{}", r.text());
        assert_eq!(rules[0]["alert"].as_str(), Some("CrudHighErrors"));
        assert_eq!(rules[0]["expr"].as_str(), Some(r#"sum(count_over_time({job="app"} |= "error" [5m])) > 10"#));
        assert_eq!(rules[0]["for"].as_str(), Some("1m"));
        assert_eq!(rules[0]["labels"]["severity"].as_str(), Some("warn"));
        assert_eq!(rules[0]["annotations"]["summary"].as_str(), Some("{{ $value }} errors"));
        assert_eq!(rules[1]["record"].as_str(), Some("crud:errors:count5m"));
        assert_eq!(rules[1]["labels"]["source"].as_str(), Some("api"));
    }
    for path in ["/loki/api/v1/rules", "/loki/api/v1/rules/ns1", "/api/prom/rules"] {
        let r = client().get(n[1].url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}: {}", r.text());
        let m = yaml(&r.text());
        let map = m.as_mapping().unwrap_or_else(|| panic!("{path}: not a map: {}", r.text()));
        assert_eq!(map.len(), 1, "{path}: {}", r.text());
        let groups = m["ns1"].as_sequence().unwrap_or_else(|| panic!("{path}: no ns1: {}", r.text()));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0]["name"].as_str(), Some("crud-group"));
    }

    // Bad groups: 400 with a message, nothing stored.
    let bad = [
        ("no rules", "name: empty-group\nrules: []\n", "has no rules"),
        (
            "bad LogQL",
            "name: bad-logql\nrules:\n  - alert: X\n    expr: sum(count_over_time({job=\"app\"}[1m])\n",
            "parse error",
        ),
        (
            "record and alert",
            "name: both\nrules:\n  - record: a:b\n    alert: AB\n    expr: sum(count_over_time({job=\"app\"}[1m]))\n",
            "record",
        ),
        ("not YAML", "name: [unclosed\n", ""),
        ("no name", "rules:\n  - record: a:b\n    expr: sum(count_over_time({job=\"app\"}[1m]))\n", "name"),
    ];
    for (what, body, needle) in bad {
        let r = post_group(&n[0], "/loki/api/v1/rules/ns1", body);
        assert_eq!(r.status(), 400, "{what}: {}", r.text());
        assert!(!r.text().trim().is_empty(), "{what}: a 400 needs a message");
        assert!(r.text().to_lowercase().contains(needle), "{what}: {:?} lacks {needle:?}", r.text());
    }
    let r = client().get(n[2].url("/loki/api/v1/rules/ns1")).send().unwrap();
    assert_eq!(yaml(&r.text())["ns1"].as_sequence().map(|s| s.len()), Some(1), "{}", r.text());

    // Prometheus' listing on every node.
    for (i, node) in n.iter().enumerate() {
        let groups = wait_until(&format!("node {i} to list crud-group"), Duration::from_secs(10), || {
            let g = prom_groups(node, "")?;
            if group_names(&g).contains("crud-group") { Ok(g) } else { Err(format!("{g:?}")) }
        });
        let g = groups.iter().find(|g| g["name"] == "crud-group").unwrap();
        assert_eq!(g["file"], "ns1", "node {i}: {g}");
        assert_eq!(g["interval"].as_f64(), Some(60.0), "node {i}: {g}");
        let rules = g["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2, "node {i}: {g}");
        let alerting = &rules[0];
        assert_eq!(alerting["type"], "alerting", "node {i}: {alerting}");
        assert_eq!(alerting["name"], "CrudHighErrors");
        assert_eq!(alerting["duration"].as_f64(), Some(60.0), "{alerting}");
        assert!(["unknown", "ok", "err"].contains(&alerting["health"].as_str().unwrap_or("-")), "{alerting}");
        assert!(["inactive", "pending", "firing"].contains(&alerting["state"].as_str().unwrap_or("-")), "{alerting}");
        assert!(alerting["alerts"].is_array(), "{alerting}");
        let recording = &rules[1];
        assert_eq!(recording["type"], "recording", "node {i}: {recording}");
        assert_eq!(recording["name"], "crud:errors:count5m");
        assert!(["unknown", "ok", "err"].contains(&recording["health"].as_str().unwrap_or("-")), "{recording}");

        let only = |q: &str| -> Vec<String> {
            let g = prom_groups(node, q).unwrap();
            g.iter()
                .filter(|g| g["name"] == "crud-group")
                .flat_map(|g| g["rules"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap().to_string()))
                .collect()
        };
        assert_eq!(only("?type=alert"), vec!["alerting"], "node {i}");
        assert_eq!(only("?type=record"), vec!["recording"], "node {i}");
        let r = client().get(node.url("/prometheus/api/v1/rules?type=foo")).send().unwrap();
        assert_eq!(r.status(), 400, "node {i}: {}", r.text());
        assert_eq!(r.json()["errorType"], "bad_data", "node {i}: {}", r.text());
    }

    // Delete on node 2; gone everywhere at once.
    let r = client().delete(n[2].url("/loki/api/v1/rules/ns1/crud-group")).send().unwrap();
    assert_eq!(r.status(), 202, "{}", r.text());
    assert_eq!(r.json(), loki_accepted());
    for (i, node) in n.iter().enumerate() {
        let r = client().get(node.url("/loki/api/v1/rules/ns1/crud-group")).send().unwrap();
        assert_eq!(r.status(), 404, "node {i}: {}", r.text());
        let r = client().get(node.url("/loki/api/v1/rules")).send().unwrap();
        assert_eq!(r.status(), 404, "node {i}: {}", r.text());
        assert!(r.text().contains("no rule groups found"), "node {i}: {}", r.text());
        let g = prom_groups(node, "").unwrap();
        assert!(!group_names(&g).contains("crud-group"), "node {i} still lists the deleted group: {g:?}");
    }
    let r = client().delete(n[0].url("/loki/api/v1/rules/ns1/crud-group")).send().unwrap();
    assert_eq!(r.status(), 404, "deleting again: {}", r.text());

    // Grafana's rule editor saves with `?subtype=cortex` and no Content-Type,
    // and expects a JSON answer; then deletes the namespace.
    let r = client()
        .post(n[1].url("/api/prom/rules/grafana-ns?subtype=cortex"))
        .body(CRUD_GROUP.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text());
    assert_eq!(r.json(), loki_accepted());
    let r = client().get(n[0].url("/api/prom/rules/grafana-ns?subtype=cortex")).send().unwrap();
    assert_eq!(yaml(&r.text())["grafana-ns"][0]["name"].as_str(), Some("crud-group"), "{}", r.text());
    // `?labels=k:v` keeps rules with any listed label.
    let r = client().get(n[0].url("/loki/api/v1/rules?labels=source:api")).send().unwrap();
    let g = yaml(&r.text());
    assert_eq!(g["grafana-ns"][0]["rules"].as_sequence().map(|r| r.len()), Some(1), "{}", r.text());
    let r = client().delete(n[2].url("/api/prom/rules/grafana-ns")).send().unwrap();
    assert_eq!(r.status(), 202, "{}", r.text());
    let r = client().get(n[0].url("/loki/api/v1/rules")).send().unwrap();
    assert_eq!(r.status(), 404, "{}", r.text());
    eprintln!("rules_api_crud: took {:?}", started.elapsed());
}

/// A broken rule file is reported and skipped while the others run; a
/// ConfigMap mount's `..data` and `..<timestamp>` entries are neither
/// tenants nor namespaces; fixing the file loads it on the next poll.
#[test]
fn bad_rule_file_does_not_stop_others() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let rules = rules_dir(tmp.path());
    let fake = rules.join("fake");
    let group = |name: &str| {
        format!(
            "groups:\n  - name: {name}\n    rules:\n      - record: {}:lines\n        expr: sum(count_over_time({{job=\"app\"}}[1m]))\n",
            name.replace('-', "_")
        )
    };
    std::fs::write(fake.join("good.yaml"), group("good")).unwrap();
    let broken = "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: sum(count_over_time({job=\"app\"}[1m])\n";
    std::fs::write(fake.join("broken.yaml"), broken).unwrap();
    // A Kubernetes ConfigMap mount: `..2024_01_01/cm.yaml`, `..data -> ..2024_01_01`,
    // `cm.yaml -> ..data/cm.yaml`; the same at the top level, where it would be a tenant.
    std::fs::create_dir(fake.join("..2024_01_01")).unwrap();
    std::fs::write(fake.join("..2024_01_01/cm.yaml"), group("from-configmap")).unwrap();
    std::os::unix::fs::symlink("..2024_01_01", fake.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/cm.yaml", fake.join("cm.yaml")).unwrap();
    std::fs::create_dir(rules.join("..2024_01_01")).unwrap();
    std::fs::write(rules.join("..2024_01_01/hidden.yaml"), group("hidden-tenant-group")).unwrap();
    std::os::unix::fs::symlink("..2024_01_01", rules.join("..data")).unwrap();

    let c = Cluster::start("bad-file", 1, tmp.path(), &rules, |_| Vec::new());
    let node = &c.nodes[0];
    let groups = wait_until("good and from-configmap listed", Duration::from_secs(15), || {
        let g = prom_groups(node, "")?;
        let names = group_names(&g);
        if names.contains("good") && names.contains("from-configmap") { Ok(g) } else { Err(format!("{names:?}")) }
    });
    let listed: BTreeSet<(String, String)> = groups
        .iter()
        .map(|g| {
            (g["file"].as_str().unwrap_or_default().to_string(), g["name"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([("cm.yaml".to_string(), "from-configmap".to_string()), ("good.yaml".into(), "good".into())]),
        "only the good file and the ConfigMap's file (under its own name) load"
    );
    let r = client().get(node.url("/loki/api/v1/rules")).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    let namespaces: BTreeSet<String> =
        yaml(&r.text()).as_mapping().unwrap().keys().map(|k| k.as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(namespaces, BTreeSet::from(["cm.yaml".to_string(), "good.yaml".into()]), "{}", r.text());

    // The broken file is reported by name.
    wait_until("the log to name broken.yaml", Duration::from_secs(10), || {
        let log = node.log_text();
        if log.lines().any(|l| l.contains("broken.yaml")) { Ok(()) } else { Err("not in the log".into()) }
    });
    let line = node.log_text().lines().find(|l| l.contains("broken.yaml")).unwrap().to_string();
    eprintln!("the node reports: {line}");

    // The others keep evaluating.
    let e1 = (evaluations(node, "good").unwrap(), evaluations(node, "from-configmap").unwrap());
    std::thread::sleep(Duration::from_millis(2500));
    let e2 = (evaluations(node, "good").unwrap(), evaluations(node, "from-configmap").unwrap());
    assert!(e2.0 > e1.0 && e2.1 > e1.1, "the good groups must keep evaluating: {e1:?} -> {e2:?}");
    let g = prom_groups(node, "").unwrap();
    let good = g.iter().find(|g| g["name"] == "good").unwrap();
    assert_eq!(good["rules"][0]["health"], "ok", "{good}");
    assert!(parse_time(good["lastEvaluation"].as_str().unwrap()) > now_s() - 10.0, "{good}");

    // Dot entries are no tenants.
    let metrics = client().get(node.url("/metrics")).send().unwrap().text();
    for l in metrics.lines().filter(|l| l.starts_with("loki_")) {
        assert!(
            !l.contains("user=\"..") && !l.contains("hidden-tenant-group"),
            "a ConfigMap entry became a tenant: {l}"
        );
    }

    // Fixed: loads on the next poll (1s).
    let fixed_at = Instant::now();
    std::fs::write(fake.join("broken.yaml"), group("fixed")).unwrap();
    wait_until("the fixed file to load", Duration::from_secs(10), || {
        let names = group_names(&prom_groups(node, "")?);
        if names.contains("fixed") { Ok(()) } else { Err(format!("{names:?}")) }
    });
    let took = fixed_at.elapsed();
    assert!(took < Duration::from_secs(4), "the fixed file loaded after {took:?}, poll_interval is 1s");
    wait_until("the fixed group to evaluate", Duration::from_secs(10), || {
        let e = evaluations(node, "fixed")?;
        if e > 0.0 { Ok(()) } else { Err("no evaluation yet".into()) }
    });
    let names = group_names(&prom_groups(node, "").unwrap());
    assert_eq!(names, BTreeSet::from(["fixed".to_string(), "from-configmap".into(), "good".into()]));
    eprintln!("bad_rule_file: fixed file loaded after {took:?}; took {:?}", started.elapsed());
}
