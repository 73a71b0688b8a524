//! Starts real `balsa` processes for integration tests.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port no other test of this process was given, and free right now.
/// (Asking the OS for port 0 and releasing it lets two parallel tests get the
/// same port, and one test then talks to the other's server.)
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Below Linux's ephemeral range (32768+), so no outgoing connection can
    // be holding the port when the node binds it.
    let base = 10_000 + (std::process::id() % 1_000) * 20;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (base + n % 2_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Balsa {
    pub child: Option<Child>,
    pub data: PathBuf,
    pub http_port: u16,
    pub grpc_port: u16,
    pub extra: Vec<String>,
    pub log: PathBuf,
}

impl Balsa {
    /// Starts a node with its data in `data` and waits for `/ready`.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        let mut b = Balsa {
            child: None,
            data: data.to_path_buf(),
            http_port: free_port(),
            grpc_port: free_port(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            log: data.with_extension("log"),
        };
        b.spawn();
        b.wait_ready(Duration::from_secs(30));
        b
    }

    /// A node that is not started yet, on given ports.
    pub fn new(data: &Path, http_port: u16, grpc_port: u16, extra: &[String]) -> Self {
        Balsa {
            child: None,
            data: data.to_path_buf(),
            http_port,
            grpc_port,
            extra: extra.to_vec(),
            log: data.with_extension("log"),
        }
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_balsa"))
            .arg(format!("-server.http_listen_address=127.0.0.1"))
            .arg(format!("-server.http_listen_port={}", self.http_port))
            .arg(format!("-server.grpc_listen_port={}", self.grpc_port))
            .arg(format!("-common.path_prefix={}", self.data.display()))
            .args(&self.extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start balsa");
        self.child = Some(child);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http_port, path)
    }

    pub fn wait_ready(&mut self, timeout: Duration) -> Duration {
        let started = Instant::now();
        let client = reqwest::blocking_client();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("balsa exited early with {status}: {}", self.log_text());
            }
            if let Ok(r) = client.get(self.url("/ready")).send() {
                if r.status() == 200 {
                    return started.elapsed();
                }
            }
            if started.elapsed() > timeout {
                panic!("balsa not ready after {timeout:?}: {}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then wait for exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                c.kill().unwrap();
                panic!("balsa did not stop on SIGTERM: {}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Balsa {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The bucket tests create in their moto server.
pub const MOTO_BUCKET: &str = "balsa-tier-test";

/// Flags that point a node at `moto`'s bucket, with small chunks and fast
/// upload rounds so that tests see tiering within seconds.
pub fn s3_flags(port: u16) -> Vec<String> {
    [
        format!("-storage_config.aws.endpoint=127.0.0.1:{port}"),
        "-storage_config.aws.insecure=true".into(),
        format!("-storage_config.aws.bucketnames={MOTO_BUCKET}"),
        "-storage_config.aws.s3forcepathstyle=true".into(),
        "-storage_config.aws.region=us-east-1".into(),
        "-storage_config.aws.access_key_id=testing".into(),
        "-storage_config.aws.secret_access_key=testing".into(),
        "-storage_config.upload_interval=200ms".into(),
        "-storage_config.object_prefix=tier-test/".into(),
        "-storage_config.orphan_sweep_interval=1s".into(),
        "-storage_config.orphan_grace_period=0s".into(),
        "-ingester.chunk_target_size=4KB".into(),
    ]
    .into()
}

/// Waits until the nodes have uploaded at least `min` chunks and nothing is
/// pending, and that stays so across a few upload rounds (the pending gauge
/// is set at the end of a round, so one reading can be stale).
pub fn wait_uploads_settled(nodes: &[&Balsa], min: f64, timeout: std::time::Duration) -> f64 {
    let started = std::time::Instant::now();
    let read = || -> (f64, f64) {
        let uploaded = nodes.iter().map(|n| metric(n, "balsa_tier_uploaded_chunks_total")).sum();
        let pending = nodes.iter().map(|n| metric(n, "balsa_tier_pending_chunks")).sum();
        (uploaded, pending)
    };
    loop {
        let first = read();
        std::thread::sleep(std::time::Duration::from_millis(800));
        let second = read();
        if first == second && second.0 >= min && second.1 == 0.0 {
            return second.0;
        }
        assert!(started.elapsed() < timeout, "uploads did not settle: uploaded {}, pending {}", second.0, second.1);
    }
}

/// The sum of a metric's samples in a node's `/metrics`.
pub fn metric(b: &Balsa, name: &str) -> f64 {
    let text = reqwest::blocking_client().get(b.url("/metrics")).send().unwrap().text();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A moto S3 server on its own port, killed on drop.
pub struct Moto {
    child: std::process::Child,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Self {
        let port = free_port();
        let mut cmd = if which("moto_server") {
            std::process::Command::new("moto_server")
        } else {
            let mut c = std::process::Command::new("python3");
            c.args(["-m", "moto.server"]);
            c
        };
        let child = cmd
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server is missing: run deploy/dev/setup.sh (pip install 'moto[server]')");
        let moto = Moto { child, port };
        let started = Instant::now();
        while reqwest::blocking_client().get(moto.url("/")).send().is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto_server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Object keys in the bucket (ListObjectsV2, path style).
    pub fn keys(&self) -> Vec<String> {
        let r = reqwest::blocking_client()
            .get(self.url(&format!("/{MOTO_BUCKET}?list-type=2&max-keys=1000")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "list bucket: {}", r.text());
        let xml = r.text();
        xml.split("<Key>").skip(1).map(|s| s.split("</Key>").next().unwrap().to_string()).collect()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Three nodes of one cluster, not started: node `i` is `cluster.peers[i]`,
/// each with its own data directory and ports, and `extra` flags on every
/// node. On a panic each node's log is printed (its last 40 lines and any
/// panic line) and kept in the temp directory.
pub struct Trio {
    pub nodes: Vec<Balsa>,
    _dir: tempfile::TempDir,
}

impl Trio {
    pub fn with_flags(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let http: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let grpc: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let peers = grpc.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let nodes = (0..3)
            .map(|i| {
                let mut flags = vec![format!("-cluster.node_id={i}"), format!("-cluster.peers={peers}")];
                flags.extend(extra.iter().map(|f| f.to_string()));
                Balsa::new(&dir.path().join(format!("n{i}")), http[i], grpc[i], &flags)
            })
            .collect();
        Trio { nodes, _dir: dir }
    }
}

impl Drop for Trio {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (i, n) in self.nodes.iter().enumerate() {
                let log = n.log_text();
                let keep = std::env::temp_dir().join(format!("balsa-failed-node{i}.log"));
                let _ = std::fs::write(&keep, &log);
                eprintln!("node {i} full log kept at {}", keep.display());
                for (at, l) in log.lines().enumerate().filter(|(_, l)| l.contains("panicked at")) {
                    eprintln!("node {i} line {at}: {l}");
                }
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("---- node {i} log (last 40 lines) ----");
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

pub mod reqwest {
    pub use ::reqwest::*;

    pub fn blocking_client() -> BlockingClient {
        BlockingClient
    }

    /// A tiny synchronous wrapper so tests need no async runtime.
    pub struct BlockingClient;

    pub struct Req {
        method: Method,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    }

    pub struct Resp {
        pub status: u16,
        pub body: Vec<u8>,
    }

    impl Resp {
        pub fn status(&self) -> u16 {
            self.status
        }
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not json ({e}): {}", self.text()))
        }
    }

    impl BlockingClient {
        pub fn get(&self, url: impl Into<String>) -> Req {
            Req { method: Method::GET, url: url.into(), headers: vec![], body: None }
        }
        pub fn post(&self, url: impl Into<String>) -> Req {
            Req { method: Method::POST, url: url.into(), headers: vec![], body: None }
        }
        pub fn delete(&self, url: impl Into<String>) -> Req {
            Req { method: Method::DELETE, url: url.into(), headers: vec![], body: None }
        }
        pub fn put(&self, url: impl Into<String>) -> Req {
            Req { method: Method::PUT, url: url.into(), headers: vec![], body: None }
        }
    }

    impl Req {
        pub fn header(mut self, k: &str, v: &str) -> Self {
            self.headers.push((k.into(), v.into()));
            self
        }
        pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
            self.body = Some(b.into());
            self
        }
        pub fn send(self) -> Result<Resp> {
            let rt = tokio_rt();
            rt.block_on(async move {
                let client = Client::builder().timeout(std::time::Duration::from_secs(60)).build()?;
                let mut rb = client.request(self.method, &self.url);
                for (k, v) in &self.headers {
                    rb = rb.header(k.as_str(), v.as_str());
                }
                if let Some(b) = self.body {
                    rb = rb.body(b);
                }
                let r = rb.send().await?;
                let status = r.status().as_u16();
                let body = r.bytes().await?.to_vec();
                Ok(Resp { status, body })
            })
        }
    }

    fn tokio_rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }
}

/// URL-encodes a query string value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}
