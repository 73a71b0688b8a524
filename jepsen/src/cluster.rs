//! The cluster under test: real `balsa` processes, one per network
//! namespace, each with its own data directory and log file. The nemesis
//! kills, pauses, wipes and clock-skews them through this module.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::net::Net;

pub const HTTP_PORT: u16 = 3100;
const GRPC_PORT: u16 = 9095;

/// Where Debian's `faketime` package puts the preload library.
fn libfaketime() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .map(|arch| arch.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file())
}

pub struct Options {
    pub balsa: PathBuf,
    pub dir: PathBuf,
    pub shards: u32,
    /// `BALSA_FAILPOINTS` for a planted bug (debug builds of balsa only).
    pub failpoints: Option<String>,
    /// Start every node under libfaketime so its wall clock can be skewed.
    pub skewable: bool,
    /// The ruler workload: the Alertmanager URL (the harness's recorder).
    /// Each node gets its own copy of the same rule files.
    pub alertmanager_url: Option<String>,
}

pub struct Node {
    pub id: usize,
    pub base_url: String,
    namespace: String,
    dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("balsa.log")
    }

    fn skew_file(&self) -> PathBuf {
        self.dir.join("faketime")
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Running and not stopped: it can answer.
    fn is_live(&self) -> bool {
        self.is_running() && !self.paused
    }

    pub fn spawn(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = OpenOptions::new().create(true).append(true).open(self.log_path())?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.namespace]).args(&self.args);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        // `ip netns exec` execs balsa in place: the child's pid is balsa's.
        let child = cmd.spawn().with_context(|| format!("starting n{}", self.id))?;
        tracing::debug!(node = self.id, pid = child.id(), "started");
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(child.id() as i32, signal) };
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    pub fn pause(&mut self) {
        self.signal(libc::SIGSTOP);
        self.paused = self.child.is_some();
    }

    pub fn resume(&mut self) {
        self.signal(libc::SIGCONT);
        self.paused = false;
    }

    /// Kills the process and deletes its data directory.
    pub fn wipe(&mut self) -> Result<()> {
        self.kill9();
        let data = self.data_dir();
        if data.exists() {
            std::fs::remove_dir_all(&data).with_context(|| format!("wiping {}", data.display()))?;
        }
        Ok(())
    }

    /// Moves the node's wall clock by `seconds` (libfaketime re-reads the
    /// file each second); monotonic clocks are left alone.
    pub fn skew(&self, seconds: i64) -> Result<()> {
        std::fs::write(self.skew_file(), format!("{seconds:+}s\n"))?;
        Ok(())
    }

    /// Stops the process gracefully, then by force.
    pub fn stop(&mut self) {
        self.resume();
        if let Some(mut child) = self.child.take() {
            // SAFETY: as in `signal`.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    http: reqwest::Client,
}

impl Cluster {
    pub fn new(net: &Net, count: usize, opts: &Options) -> Result<Cluster> {
        if !opts.balsa.is_file() {
            bail!(
                "no balsa binary at {} (build it with `cargo build -p balsa-node --bin balsa`)",
                opts.balsa.display()
            );
        }
        let faketime = match opts.skewable {
            true => Some(libfaketime().context("the clock-skew nemesis needs libfaketime (apt-get install faketime)")?),
            false => None,
        };
        let peers: Vec<String> = (0..count).map(|i| format!("{}:{GRPC_PORT}", net.node_ip(i))).collect();
        let mut nodes = Vec::new();
        for id in 0..count {
            let dir = opts.dir.join(format!("n{id}"));
            std::fs::create_dir_all(&dir)?;
            let mut args = vec![
                opts.balsa.display().to_string(),
                format!("-cluster.node_id={id}"),
                format!("-cluster.peers={}", peers.join(",")),
                format!("-cluster.shards={}", opts.shards),
                format!("-server.http_listen_port={HTTP_PORT}"),
                format!("-server.grpc_listen_port={GRPC_PORT}"),
                format!("-common.path_prefix={}", dir.join("data").display()),
            ];
            if let Some(url) = &opts.alertmanager_url {
                let rules = dir.join("rules");
                crate::ruler::write_rules(&rules)?;
                args.extend(crate::ruler::flags(&rules, url));
            }
            let mut env = vec![("RUST_BACKTRACE".to_string(), "1".to_string())];
            if let Some(fp) = &opts.failpoints {
                env.push(("BALSA_FAILPOINTS".into(), fp.clone()));
            }
            let mut node = Node {
                id,
                base_url: format!("http://{}:{HTTP_PORT}", net.node_ip(id)),
                namespace: net.namespace(id),
                dir,
                args,
                env,
                child: None,
                paused: false,
            };
            if let Some(lib) = &faketime {
                node.skew(0)?;
                let file = node.skew_file().display().to_string();
                node.env.extend([
                    ("LD_PRELOAD".to_string(), lib.display().to_string()),
                    ("FAKETIME_TIMESTAMP_FILE".to_string(), file),
                    ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
                    ("FAKETIME_CACHE_DURATION".to_string(), "1".to_string()),
                ]);
            }
            nodes.push(node);
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        Ok(Cluster { nodes, http })
    }

    pub fn start_all(&mut self) -> Result<()> {
        self.nodes.iter_mut().try_for_each(Node::spawn)
    }

    /// Waits until every running node answers `/ready` with 200.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for node in self.nodes.iter().filter(|n| n.is_live()) {
            loop {
                let ok = self.http.get(format!("{}/ready", node.base_url)).send().await;
                if ok.map(|r| r.status().is_success()).unwrap_or(false) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("n{} not ready after {timeout:?}; see {}", node.id, node.log_path().display());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// The node that leads the most shards, as a live node reports it.
    pub async fn busiest_leader(&self) -> Option<usize> {
        for node in self.nodes.iter().filter(|n| n.is_live()) {
            let Ok(resp) = self.http.get(format!("{}/cluster/status", node.base_url)).send().await else { continue };
            let Ok(status) = resp.json::<serde_json::Value>().await else { continue };
            let mut led = vec![0usize; self.nodes.len()];
            for shard in status["shards"].as_array().into_iter().flatten() {
                if let Some(l) = shard["leader"].as_u64().filter(|l| (*l as usize) < led.len()) {
                    led[l as usize] += 1;
                }
            }
            let (node, count) = led.iter().enumerate().max_by_key(|(_, c)| **c)?;
            if *count > 0 {
                return Some(node);
            }
        }
        None
    }

    /// Undoes every fault on the processes: resumes, restarts, unskews.
    pub fn recover_all(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            node.resume();
            node.spawn()?;
            if node.skew_file().exists() {
                node.skew(0)?;
            }
        }
        Ok(())
    }

    pub fn stop_all(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.resume();
            node.kill9();
        }
    }
}
