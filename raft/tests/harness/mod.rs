//! An in-process three-node cluster for tests, in the style of TiKV's
//! test_raftstore: every node is a real `RaftNode` with its own data
//! directory and a real gRPC server on 127.0.0.1, and all nodes share one
//! `NetFilter`, through which every outgoing call of every node passes, so a
//! test can isolate a node, drop or delay links, and heal.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use balsa_model::{Direction, Entry, Labels, StreamReader, shard_of};
use balsa_raft::{ClusterSpec, GroupStatus, NetFilter, ProposeError, RaftConfig, RaftNode};
use balsa_storage::command::{EntryRecord, StreamEntries};
use balsa_storage::{ApplyOutcome, IngesterConfig, Push, ShardCommand};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub type NodeId = u64;

/// One log line as a read returns it: (canonical labels, timestamp, line).
pub type Line = (String, i64, String);

pub const TENANT: &str = "fake";
const BASE_TS: i64 = 1_700_000_000_000_000_000;

/// Raft timing fast enough for tests on a loaded two-core machine.
pub fn fast_raft() -> RaftConfig {
    RaftConfig {
        heartbeat_interval: Duration::from_millis(100),
        election_timeout_min: Duration::from_millis(300),
        election_timeout_max: Duration::from_millis(600),
        snapshot_logs_since_last: 5000,
        max_in_snapshot_log_to_keep: 1000,
        op_timeout: Duration::from_secs(3),
    }
}

#[derive(Clone, Debug)]
pub struct Opts {
    pub nodes: u64,
    pub shards: u32,
    pub raft: RaftConfig,
    pub ingester: IngesterConfig,
}

impl Default for Opts {
    fn default() -> Self {
        Self { nodes: 3, shards: 4, raft: fast_raft(), ingester: IngesterConfig::default() }
    }
}

struct Member {
    dir: PathBuf,
    addr: SocketAddr,
    /// The listener bound before the cluster knew its ports; used by the first start.
    listener: Option<TcpListener>,
    node: Option<Arc<RaftNode>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), balsa_raft::RaftError>>>,
    /// The peer pings and the quiescence of idle groups, which the binary
    /// runs too (`RaftNode::run_liveness`, `run_quiescence`).
    liveness: Option<JoinHandle<()>>,
}

pub struct Cluster {
    pub opts: Opts,
    pub filter: Arc<NetFilter>,
    peers: BTreeMap<NodeId, String>,
    members: BTreeMap<NodeId, Member>,
    ts: AtomicI64,
    _root: tempfile::TempDir,
}

impl Cluster {
    /// Binds one listener per node (port 0) and prepares data directories;
    /// starts nothing.
    pub async fn new(opts: Opts) -> Self {
        init_tracing();
        let root = tempfile::tempdir().expect("temp dir");
        let mut peers = BTreeMap::new();
        let mut members = BTreeMap::new();
        for id in 0..opts.nodes {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("local addr");
            let dir = root.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).expect("node dir");
            peers.insert(id, addr.to_string());
            members.insert(
                id,
                Member { dir, addr, listener: Some(listener), node: None, stop: None, server: None, liveness: None },
            );
        }
        Self { opts, filter: Arc::new(NetFilter::new()), peers, members, ts: AtomicI64::new(0), _root: root }
    }

    /// A started and formed cluster: every node open and serving, every group
    /// with a leader known to every node.
    pub async fn start(opts: Opts) -> Self {
        let mut c = Self::new(opts).await;
        for id in c.ids() {
            c.open(id).await;
        }
        c.form_all().await;
        c.wait_ready(Duration::from_secs(15)).await;
        c
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    pub fn running(&self) -> Vec<NodeId> {
        self.members.iter().filter(|(_, m)| m.node.is_some()).map(|(id, _)| *id).collect()
    }

    pub fn shards(&self) -> u32 {
        self.opts.shards
    }

    pub fn dir(&self, id: NodeId) -> &Path {
        &self.members[&id].dir
    }

    pub fn node(&self, id: NodeId) -> Arc<RaftNode> {
        Arc::clone(self.members[&id].node.as_ref().unwrap_or_else(|| panic!("node {id} is not running")))
    }

    /// Opens node `id` on its directory and serves its transport on its
    /// address (the first time on the listener bound in [`new`](Self::new)).
    pub async fn open(&mut self, id: NodeId) -> Arc<RaftNode> {
        let spec = ClusterSpec { peers: self.peers.clone(), filter: Arc::clone(&self.filter) };
        let (opts, member) = (&self.opts, self.members.get_mut(&id).expect("known node"));
        assert!(member.node.is_none(), "node {id} is already running");
        let listener = match member.listener.take() {
            Some(l) => l,
            None => bind_again(member.addr).await,
        };
        // A node stopped just before may still be releasing its RocksDB lock.
        let deadline = Instant::now() + Duration::from_secs(10);
        let node = loop {
            match RaftNode::open(id, &member.dir, opts.shards, opts.ingester.clone(), opts.raft.clone(), spec.clone())
                .await
            {
                Ok(n) => break n,
                Err(e) if e.to_string().contains("lock") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("open node {id}: {e}"),
            }
        };
        let (tx, rx) = oneshot::channel::<()>();
        let serving = Arc::clone(&node);
        let server = tokio::spawn(async move {
            serving
                .serve(listener, async move {
                    let _ = rx.await;
                })
                .await
        });
        let (pings, quiescence) = (Arc::clone(&node).run_liveness(), Arc::clone(&node).run_quiescence());
        member.liveness = Some(tokio::spawn(async move {
            tokio::join!(pings, quiescence);
        }));
        member.node = Some(Arc::clone(&node));
        member.stop = Some(tx);
        member.server = Some(server);
        node
    }

    /// Runs `form()` on every running node (only the lowest id does anything).
    pub async fn form_all(&self) {
        let forms: Vec<_> = self
            .running()
            .into_iter()
            .map(|id| {
                let n = self.node(id);
                tokio::spawn(async move { n.form().await })
            })
            .collect();
        for f in forms {
            tokio::time::timeout(Duration::from_secs(15), f).await.expect("form finishes").expect("form task");
        }
    }

    /// Waits until every running node knows a leader for every group.
    pub async fn wait_ready(&self, timeout: Duration) {
        for id in self.running() {
            assert!(self.node(id).wait_ready(timeout).await, "node {id} never saw a leader for every group");
        }
    }

    /// Stops node `id` like a clean process exit: stops its groups (final
    /// fsync), stops its server, and waits until nothing holds the node, so
    /// its RocksDB is closed and its directory may be reopened or wiped.
    pub async fn stop(&mut self, id: NodeId) {
        let member = self.members.get_mut(&id).expect("known node");
        let node = member.node.take().unwrap_or_else(|| panic!("node {id} is not running"));
        if let Some(liveness) = member.liveness.take() {
            liveness.abort();
            let _ = liveness.await;
        }
        node.shutdown().await;
        let _ = member.stop.take().expect("stop signal").send(());
        let server = member.server.take().expect("server task");
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(r) => r.expect("server task").expect("server"),
            Err(_) => panic!("node {id}'s server did not stop within 10s"),
        }
        let weak = Arc::downgrade(&node);
        let weak_db = Arc::downgrade(node.db());
        let db_path = node.db().path().to_path_buf();
        drop(node);
        let deadline = Instant::now() + Duration::from_secs(10);
        while weak.strong_count() > 0 || weak_db.strong_count() > 0 {
            assert!(Instant::now() < deadline, "something still holds node {id} (or its Db) after it stopped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The last `Db` handle is gone, but RocksDB closes on the flusher
        // thread; wait until this process can take the directory's lock.
        loop {
            match probe_open(&db_path) {
                Ok(()) => break,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "waiting for RocksDB to close");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("node {id}'s RocksDB did not close: {e}"),
            }
        }
    }

    /// Stops node `id` and opens it again on the same directory and port.
    pub async fn restart(&mut self, id: NodeId) -> Arc<RaftNode> {
        self.stop(id).await;
        self.open(id).await
    }

    /// Stops node `id`, deletes its data directory, and opens it again under
    /// the same id and port, empty.
    pub async fn wipe_and_restart(&mut self, id: NodeId) -> Arc<RaftNode> {
        self.wipe(id).await;
        self.open(id).await
    }

    /// Stops node `id` and deletes its data directory (an empty one is left,
    /// so [`open`](Self::open) starts it from nothing under the same id).
    pub async fn wipe(&mut self, id: NodeId) {
        self.stop(id).await;
        let dir = self.members[&id].dir.clone();
        std::fs::remove_dir_all(&dir).expect("wipe node dir");
        std::fs::create_dir_all(&dir).expect("recreate node dir");
    }

    /// Stops every running node.
    pub async fn shutdown(mut self) {
        self.filter.heal();
        for id in self.running() {
            self.stop(id).await;
        }
    }

    // ---- faults -------------------------------------------------------

    /// Cuts `id` off from every other node, both ways (calls hang).
    pub fn isolate(&self, id: NodeId) {
        self.filter.isolate(id, &self.ids());
    }

    pub fn heal(&self) {
        self.filter.heal();
    }

    // ---- writes -------------------------------------------------------

    /// A fresh, strictly increasing timestamp.
    pub fn next_ts(&self) -> i64 {
        BASE_TS + self.ts.fetch_add(1, Ordering::Relaxed) * 1_000
    }

    /// The labels of the stream this cluster writes on `shard`.
    pub fn labels(&self, shard: u32) -> Labels {
        labels_for(shard, self.shards())
    }

    /// A push of `lines` fresh lines (`tag` and a sequence number in each) to
    /// the shard's stream, and the lines it carries.
    pub fn command(&self, shard: u32, tag: &str, lines: usize, pad: usize) -> (ShardCommand, Vec<Line>) {
        let labels = self.labels(shard);
        let entries: Vec<(i64, String)> = (0..lines)
            .map(|_| {
                let ts = self.next_ts();
                (ts, format!("{tag} s{shard} t{}{}", ts - BASE_TS, "x".repeat(pad)))
            })
            .collect();
        let cmd = command(&labels, &entries);
        let canonical = labels.canonical();
        (cmd, entries.into_iter().map(|(ts, l)| (canonical.clone(), ts, l)).collect())
    }

    /// Proposes `cmd` on shard `shard` through node `via`.
    pub async fn propose(&self, via: NodeId, shard: u32, cmd: &ShardCommand) -> Result<ApplyOutcome, ProposeError> {
        self.node(via).propose(shard, cmd).await
    }

    /// Pushes `lines` fresh lines to `shard` through node `via`; returns the
    /// lines once committed, after checking every entry was accepted.
    pub async fn push(&self, via: NodeId, shard: u32, lines: usize) -> Result<Vec<Line>, ProposeError> {
        self.push_padded(via, shard, lines, 0).await
    }

    pub async fn push_padded(
        &self,
        via: NodeId,
        shard: u32,
        lines: usize,
        pad: usize,
    ) -> Result<Vec<Line>, ProposeError> {
        let (cmd, pushed) = self.command(shard, &format!("n{via}"), lines, pad);
        let outcome = self.propose(via, shard, &cmd).await?;
        assert_eq!(outcome.accepted, lines as u64, "every entry accepted: {outcome:?}");
        assert!(outcome.rejected.is_empty(), "nothing rejected: {outcome:?}");
        Ok(pushed)
    }

    // ---- reads --------------------------------------------------------

    /// Everything node `via` returns for the shard after a read barrier,
    /// sorted, duplicates kept.
    pub async fn read_shard(&self, via: NodeId, shard: u32) -> Result<Vec<Line>, ProposeError> {
        read_shard(&self.node(via), shard).await
    }

    /// Everything node `via` returns for the tenant across shards.
    pub async fn read_all(&self, via: NodeId) -> Result<Vec<Line>, ProposeError> {
        let node = self.node(via);
        let mut out = Vec::new();
        for shard in 0..self.shards() {
            out.extend(read_shard(&node, shard).await?);
        }
        out.sort();
        Ok(out)
    }

    /// Checks that every running node returns exactly `expected` (sorted,
    /// each line once): durability, no phantoms, no duplicates, convergence.
    pub async fn assert_every_node_reads(&self, expected: &[Line]) {
        let mut expected = expected.to_vec();
        expected.sort();
        for id in self.running() {
            let got = self.read_all(id).await.unwrap_or_else(|e| panic!("read on node {id}: {e}"));
            assert_lines_eq(&got, &expected, &format!("node {id}"));
        }
    }

    // ---- leadership ---------------------------------------------------

    /// Status of every group as node `id` sees it.
    pub fn status(&self, id: NodeId) -> Vec<GroupStatus> {
        self.node(id).status()
    }

    /// The leader of `shard` as the running node with the newest term sees it.
    pub fn leader_of(&self, shard: u32) -> Option<NodeId> {
        self.running()
            .into_iter()
            .map(|id| self.status(id)[shard as usize].clone())
            .filter(|s| s.leader.is_some())
            .max_by_key(|s| s.term)
            .and_then(|s| s.leader)
    }

    /// Groups led per node (nodes leading nothing included), as each leader
    /// sees itself.
    pub fn leader_counts(&self) -> BTreeMap<NodeId, usize> {
        let mut counts: BTreeMap<NodeId, usize> = self.ids().into_iter().map(|id| (id, 0)).collect();
        for shard in 0..self.shards() {
            if let Some(l) = self.leader_of(shard) {
                *counts.entry(l).or_default() += 1;
            }
        }
        counts
    }

    /// Waits until every node's view of `shard` names a leader satisfying `ok`.
    pub async fn wait_leader(
        &self,
        nodes: &[NodeId],
        shard: u32,
        timeout: Duration,
        ok: impl Fn(NodeId) -> bool,
    ) -> NodeId {
        let deadline = Instant::now() + timeout;
        loop {
            let views: Vec<Option<NodeId>> = nodes.iter().map(|id| self.status(*id)[shard as usize].leader).collect();
            if let Some(Some(l)) = views.first()
                && views.iter().all(|v| *v == Some(*l))
                && ok(*l)
            {
                return *l;
            }
            assert!(
                Instant::now() < deadline,
                "shard {shard}: nodes {nodes:?} see leaders {views:?} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Opens and closes the RocksDB at `path` on this thread: succeeds only once
/// no other instance holds it.
fn probe_open(path: &Path) -> Result<(), rocksdb::Error> {
    let opts = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&opts, path)?;
    let db = rocksdb::DB::open_cf(&opts, path, cfs)?;
    drop(db);
    Ok(())
}

async fn bind_again(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(%addr, error = %e, "rebinding");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("rebind {addr}: {e}"),
        }
    }
}

/// Labels of a stream that lands on `shard` (of `shards`) for [`TENANT`].
pub fn labels_for(shard: u32, shards: u32) -> Labels {
    (0u32..)
        .map(|k| Labels::from_pairs([("app", "cluster-test".to_string()), ("k", k.to_string())]))
        .find(|l| shard_of(TENANT, l, shards) == shard)
        .expect("some labels land on every shard")
}

/// A push of `entries` to one stream.
pub fn command(labels: &Labels, entries: &[(i64, String)]) -> ShardCommand {
    ShardCommand::push(Push {
        tenant: TENANT.into(),
        streams: vec![StreamEntries {
            labels: labels.iter().map(Into::into).collect(),
            entries: entries
                .iter()
                .map(|(ts, l)| EntryRecord { ts_ns: *ts, line: l.clone(), structured_metadata: vec![] })
                .collect(),
        }],
        out_of_order_window_ns: i64::MAX,
        unordered_writes: true,
    })
}

/// Everything `node` returns for `shard` after a read barrier.
pub async fn read_shard(node: &RaftNode, shard: u32) -> Result<Vec<Line>, ProposeError> {
    node.read_barrier(shard).await?;
    let reader = node.reader(shard).expect("shard exists");
    let mut out = Vec::new();
    let streams = reader.streams(TENANT, 0, i64::MAX, &mut |_| true).expect("list streams");
    for s in streams {
        reader
            .entries(TENANT, s.id, 0, i64::MAX, Direction::Forward, &mut |e: &Entry| {
                out.push((s.labels.canonical(), e.ts_ns, e.line.clone()));
                true
            })
            .expect("read entries");
    }
    out.sort();
    Ok(out)
}

/// Compares two sorted line lists and explains the first differences.
pub fn assert_lines_eq(got: &[Line], expected: &[Line], what: &str) {
    if got == expected {
        return;
    }
    let missing: Vec<&Line> = expected.iter().filter(|l| !got.contains(l)).take(5).collect();
    let extra: Vec<&Line> = got.iter().filter(|l| !expected.contains(l)).take(5).collect();
    let mut dups = got.to_vec();
    dups.dedup();
    panic!(
        "{what}: read {} lines, expected {} ({} duplicates); missing e.g. {missing:?}; unexpected e.g. {extra:?}",
        got.len(),
        expected.len(),
        got.len() - dups.len(),
    );
}

/// Polls `cond` every 20ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- captured log events ----------------------------------------------

/// A `balsa_raft` log event: its message and fields (values as printed).
#[derive(Clone, Debug)]
pub struct Event {
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

fn events() -> &'static Mutex<Vec<Event>> {
    static EVENTS: OnceLock<Mutex<Vec<Event>>> = OnceLock::new();
    EVENTS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Every captured event with this message, in order. Events are global to
/// the test process: only snapshot events are kept, and only the snapshot
/// test makes groups purge their logs.
pub fn captured(message: &str) -> Vec<Event> {
    events().lock().unwrap().iter().filter(|e| e.message == message).cloned().collect()
}

const CAPTURED: [&str; 4] = ["installed snapshot", "received snapshot", "materialized snapshot", "built snapshot"];

/// The message under which openraft's "N-th snapshot sending: has read
/// snapshot: meta:..." events are kept (field `meta`: the announced metadata).
pub const ANNOUNCED: &str = "announced snapshot";

struct Capture;

#[derive(Default)]
struct Visitor(BTreeMap<String, String>);

impl tracing::field::Visit for Visitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut v = Visitor::default();
        event.record(&mut v);
        let mut message = v.0.remove("message").unwrap_or_default();
        // openraft announces the snapshot it is about to send (its stored meta).
        if message.contains("snapshot sending: has read snapshot") {
            v.0.insert("meta".into(), message.rsplit("meta:").next().unwrap_or_default().to_string());
            message = ANNOUNCED.to_string();
        }
        if CAPTURED.contains(&message.as_str()) || message == ANNOUNCED {
            events().lock().unwrap().push(Event { message, fields: v.0 });
        }
    }
}

/// Installs a process-wide subscriber: snapshot events of `balsa_raft` are
/// captured; `RUST_LOG` (off by default) prints logs for debugging.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::prelude::*;
        let capture = Capture.with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("balsa_raft", tracing::Level::DEBUG)
                .with_target("openraft::replication", tracing::Level::INFO),
        );
        let fmt = std::env::var("RUST_LOG").ok().map(|_| {
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(tracing_subscriber::EnvFilter::from_default_env())
        });
        let _ = tracing_subscriber::registry().with(capture).with(fmt).try_init();
    });
}
