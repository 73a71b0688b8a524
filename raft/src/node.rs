//! A node's set of shard groups: opens them over one `Db`, forms the cluster,
//! proposes commands (forwarding to each shard's leader), serves linearizable
//! reads, and spreads leadership across nodes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use balsa_storage::{ApplyOutcome, ColdChunks, IngesterConfig, Shard, ShardCommand, ShardReader};
use openraft::BasicNode;
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, LinearizableReadError, RaftError as OpenraftError};
use prost::Message;

use crate::config::RaftConfig;
use crate::db::Db;
use crate::error::{ProposeError, RaftError};
use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::transport::{NetFilter, Network, PeerPool, TransportService, pb};
use crate::types::{Command, NodeId, Raft, TypeConfig};

const SHARD_COUNT_KEY: &str = "shard_count";
/// Pause between attempts while a shard has no (reachable) leader.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

struct Group {
    shard: u32,
    raft: Raft,
    storage: Arc<Shard>,
    /// Latched once this replica has applied what the cluster had committed
    /// (within [`CAUGHT_UP_LAG`]): after a restart or a wipe the node is not
    /// ready until then, and never unready again for lag under load.
    caught_up: std::sync::atomic::AtomicBool,
}

/// How many committed entries a replica may still have to apply and count
/// as caught up.
const CAUGHT_UP_LAG: u64 = 1000;

/// Who the node is among its peers.
#[derive(Clone, Debug, Default)]
pub struct ClusterSpec {
    /// gRPC address of every member, by node id, this node included. Empty
    /// (or only this node): a single-node cluster.
    pub peers: BTreeMap<NodeId, String>,
    /// Fault injection for tests; empty in production.
    pub filter: Arc<NetFilter>,
}

/// What an operator wants to see of one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    pub shard: u32,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log: Option<u64>,
    pub applied: Option<u64>,
    /// On the leader: each replica's matched log index.
    pub replicas: BTreeMap<NodeId, Option<u64>>,
    pub streams: u64,
    pub chunks: u64,
}

pub struct RaftNode {
    id: NodeId,
    db: Arc<Db>,
    groups: Vec<Group>,
    pool: Arc<PeerPool>,
    members: BTreeMap<NodeId, BasicNode>,
    snapshots: PathBuf,
    op_timeout: Duration,
    liveness: Liveness,
    /// Leadership transfers this node started and has not seen finish.
    transfers: std::sync::Mutex<HashMap<u32, Transfer>>,
    /// Where readers find chunks that moved to the object store.
    cold: std::sync::RwLock<Option<Arc<dyn ColdChunks>>>,
    boot_id: u64,
    /// Every push any shard applies on this node, for live tails.
    applied: crate::state_machine::AppliedSender,
}

/// Applied pushes a live tail may be behind by before it sees `Lagged`.
const APPLIED_CHANNEL_CAPACITY: usize = 1024;

/// When each peer last answered a node-level ping: one ping per node pair,
/// whatever the number of groups, decides whether idle groups may sleep.
#[derive(Default)]
struct Liveness {
    last_ok: std::sync::Mutex<HashMap<NodeId, Instant>>,
    /// Each peer's `boot_id` as last seen.
    boots: std::sync::Mutex<HashMap<NodeId, u64>>,
    /// Bumped when a peer restarted: quiesced groups wake up so that their
    /// leaders contact it (it may have lost its disk and know nothing).
    wake: std::sync::atomic::AtomicU64,
    /// When each peer was last seen to restart.
    restarted_at: std::sync::Mutex<HashMap<NodeId, Instant>>,
    /// Peers last reported unreachable: the change is logged once each way
    /// (openraft's own per-group, per-retry warnings are filtered out).
    reported_down: std::sync::Mutex<std::collections::HashSet<NodeId>>,
}

/// A leadership transfer this node started: to whom, in which term, when.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    to: NodeId,
    term: u64,
    at: Instant,
}

/// A transfer not finished after this long is presumed lost (the target
/// was cut off as it was asked); one takes a round trip and a vote.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(2);

/// How often peers are pinged.
const PING_EVERY: Duration = Duration::from_millis(250);
/// A peer silent for this long is presumed down.
const PEER_DOWN_AFTER: Duration = Duration::from_millis(1200);
/// A group with no new log entry for this long may stop ticking.
const IDLE_AFTER: Duration = Duration::from_secs(2);

/// Per-group bookkeeping of the quiescence loop.
struct QuiesceState {
    last_log: Option<u64>,
    changed_at: Instant,
    ticking: bool,
    elect_requested_for: Option<(NodeId, u64, Instant)>,
    /// The (leader, term) this node last saw for the group, and since when.
    leader_seen: Option<(NodeId, u64, Instant)>,
}

impl RaftNode {
    /// Opens (or creates) every shard group of this node under `data_dir`.
    /// A data directory remembers its shard count; a different `shards`
    /// value is refused. A single node initializes its groups at once (once:
    /// a restart never re-initializes); a cluster forms in [`form`](Self::form).
    pub async fn open(
        id: NodeId,
        data_dir: &Path,
        shards: u32,
        ingester: IngesterConfig,
        raft: RaftConfig,
        cluster: ClusterSpec,
    ) -> Result<Arc<Self>, RaftError> {
        let db = Db::open(&data_dir.join("db"))?;
        match db.get_node_meta(SHARD_COUNT_KEY)? {
            Some(raw) => {
                let recorded = u32::from_be_bytes(
                    raw.as_slice().try_into().map_err(|_| RaftError::Raft("corrupt shard count".into()))?,
                );
                if recorded != shards {
                    return Err(RaftError::ShardCountMismatch { recorded, configured: shards });
                }
            }
            None => db.put_node_meta(SHARD_COUNT_KEY, &shards.to_be_bytes())?,
        }
        let mut peers = cluster.peers.clone();
        if peers.is_empty() {
            peers.insert(id, String::new());
        }
        if !peers.contains_key(&id) {
            return Err(RaftError::Raft(format!("node id {id} is not among the cluster peers {:?}", peers.keys())));
        }
        let members: BTreeMap<NodeId, BasicNode> =
            peers.iter().map(|(nid, addr)| (*nid, BasicNode::new(addr.clone()))).collect();
        let others: HashMap<NodeId, String> =
            peers.iter().filter(|(nid, _)| **nid != id).map(|(n, a)| (*n, a.clone())).collect();
        let pool = PeerPool::new(id, others, Arc::clone(&cluster.filter));
        let config = Arc::new(raft.to_openraft().map_err(|e| RaftError::Raft(e.to_string()))?);
        let snapshots = data_dir.join("snapshots");
        let mut groups = Vec::with_capacity(shards as usize);
        let applied = tokio::sync::broadcast::channel(APPLIED_CHANNEL_CAPACITY).0;
        let started = Instant::now();
        for shard in 0..shards {
            let kv = db.sm_kv();
            let storage = Arc::new(Shard::open(shard, ingester.clone(), &kv)?);
            let sm = StateMachine::open(shard, Arc::clone(&db), Arc::clone(&storage), shard_dir(&snapshots, shard))?
                .publish_to(applied.clone());
            let log = LogStore::new(shard, Arc::clone(&db));
            let network = Network::new(shard, Arc::clone(&pool));
            let raft = Raft::new(id, Arc::clone(&config), network, log, sm)
                .await
                .map_err(|e| RaftError::Raft(e.to_string()))?;
            groups.push(Group { shard, raft, storage, caught_up: false.into() });
        }
        let node = Arc::new(Self {
            id,
            db,
            groups,
            pool,
            members,
            snapshots,
            op_timeout: raft.op_timeout,
            liveness: Liveness::default(),
            transfers: std::sync::Mutex::new(HashMap::new()),
            cold: std::sync::RwLock::new(None),
            boot_id: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id()),
            applied,
        });
        if node.members.len() == 1 {
            node.initialize_groups().await?;
        }
        tracing::info!(
            node = id,
            shards,
            members = node.members.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "opened shard groups"
        );
        Ok(node)
    }

    /// Initializes every group not yet initialized with all members as voters.
    async fn initialize_groups(&self) -> Result<(), RaftError> {
        for g in &self.groups {
            if g.raft.is_initialized().await.map_err(|e| RaftError::Raft(e.to_string()))? {
                continue;
            }
            g.raft
                .initialize(self.members.clone())
                .await
                .map_err(|e| RaftError::Raft(format!("initialize shard {}: {e}", g.shard)))?;
        }
        Ok(())
    }

    /// Forms the cluster: the lowest id initializes every group with all
    /// members once every member answers and none holds initialized groups
    /// (a wiped node must not start a second cluster); others wait to be
    /// contacted. Idempotent; retries unresolvable or silent peers forever.
    pub async fn form(self: &Arc<Self>) {
        if self.members.len() <= 1 {
            return;
        }
        let lowest = *self.members.keys().next().expect("members is not empty");
        if self.id != lowest {
            return;
        }
        loop {
            let mine = self.initialized_groups().await;
            if mine == self.shard_count() {
                tracing::debug!("every group is initialized; nothing to form");
                return;
            }
            let mut all_answered = true;
            let mut initialized_elsewhere = 0;
            for peer in self.pool.peers() {
                let req = pb::HelloRequest { from: self.id, shards: self.shard_count() };
                match self.pool.call(peer, Duration::from_secs(2), |mut c| async move { c.hello(req).await }).await {
                    Ok(reply) => {
                        if reply.shards != self.shard_count() {
                            tracing::error!(
                                peer,
                                theirs = reply.shards,
                                ours = self.shard_count(),
                                "peer has another shard count; not forming"
                            );
                            all_answered = false;
                        }
                        initialized_elsewhere += reply.initialized_groups;
                    }
                    Err(e) => {
                        tracing::info!(peer, error = %e, "waiting for peer before forming the cluster");
                        all_answered = false;
                    }
                }
            }
            if all_answered {
                if initialized_elsewhere > 0 && mine == 0 {
                    tracing::info!("peers already hold the cluster; this node will be caught up by them");
                    return;
                }
                match self.initialize_groups().await {
                    Ok(()) => {
                        tracing::info!(members = self.members.len(), shards = self.shard_count(), "cluster formed");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "initializing groups"),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Serves the transport on `listener` until `shutdown` completes.
    pub async fn serve(
        self: &Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), RaftError> {
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .add_service(TransportService::new(Arc::clone(self)).into_server())
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| RaftError::Raft(format!("grpc server: {e}")))
    }

    /// Every push applied on this node from now on, whichever shard and
    /// whichever node took it: each node applies every shard. Raft knows
    /// nothing of queries; the receiver filters.
    pub fn subscribe_applied(&self) -> tokio::sync::broadcast::Receiver<Arc<balsa_model::AppliedPush>> {
        self.applied.subscribe()
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn shard_count(&self) -> u32 {
        self.groups.len() as u32
    }

    pub fn members(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    pub(crate) fn raft(&self, shard: u32) -> Option<&Raft> {
        self.groups.get(shard as usize).map(|g| &g.raft)
    }

    pub(crate) fn snapshot_dir(&self, shard: u32) -> PathBuf {
        shard_dir(&self.snapshots, shard)
    }

    /// Groups that know a membership (initialized here or joined from a
    /// leader). Read from metrics, so the pings that carry it cost no
    /// message to any group's core.
    pub(crate) async fn initialized_groups(&self) -> u32 {
        self.groups
            .iter()
            .filter(|g| g.raft.metrics().borrow_watched().membership_config.membership().voter_ids().next().is_some())
            .count() as u32
    }

    fn group(&self, shard: u32) -> Result<&Group, ProposeError> {
        self.groups.get(shard as usize).ok_or(ProposeError::NoSuchShard(shard))
    }

    /// While this replica knows no leader (just restarted, or its group is
    /// quiet), ask the live peers in turn: whoever leads answers, the others
    /// reply with a hint.
    fn guess_peer(&self, round: &mut usize) -> Option<NodeId> {
        let live: Vec<NodeId> = self.pool.peers().into_iter().filter(|p| self.peer_alive(*p)).collect();
        if live.is_empty() {
            return None;
        }
        *round += 1;
        Some(live[*round % live.len()])
    }

    /// Completes once this node sees a leader of `shard` other than `from`.
    async fn leader_moves_from(&self, shard: u32, from: NodeId) {
        loop {
            tokio::time::sleep(RETRY_PAUSE).await;
            if matches!(self.leader_of(shard), Some(l) if l != from) {
                return;
            }
        }
    }

    fn leader_of(&self, shard: u32) -> Option<NodeId> {
        self.groups.get(shard as usize).and_then(|g| g.raft.metrics().borrow_watched().current_leader)
    }

    /// Replicates `cmd` through the shard's group, on whichever node leads
    /// it, and returns what applying it did. Returns once the entry is
    /// committed (durable on a quorum). Retries leader changes and
    /// unreachable leaders until the operation timeout, then reports the
    /// shard unavailable (the entry may still commit later; retries are safe
    /// because identical entries are stored once).
    pub async fn propose(&self, shard: u32, cmd: &ShardCommand) -> Result<ApplyOutcome, ProposeError> {
        self.group(shard)?;
        let bytes = cmd.encode_to_vec();
        let started = Instant::now();
        let deadline = started + self.op_timeout;
        let mut hint: Option<NodeId> = None;
        let mut guesses = 0usize;
        let mut last_reason = String::from("no leader elected");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                metrics::counter!("balsa_propose_unavailable_total").increment(1);
                return Err(ProposeError::Unavailable { shard, reason: last_reason });
            }
            let leader = hint.take().or_else(|| self.leader_of(shard)).or_else(|| self.guess_peer(&mut guesses));
            let reply = match leader {
                None => None,
                Some(l) if l == self.id => Some(self.propose_here_timeout(shard, bytes.clone(), remaining).await),
                Some(l) => {
                    let req = pb::ProposeRequest { shard, command: bytes.clone() };
                    let call = self.pool.call(l, remaining, |mut c| async move { c.propose(req).await });
                    // A leader cut off by a partition hangs the call: stop
                    // waiting as soon as this node sees another leader.
                    tokio::select! {
                        r = call => match r {
                            Ok(r) => r.result,
                            Err(e) => {
                                last_reason = e.to_string();
                                None
                            }
                        },
                        _ = self.leader_moves_from(shard, l) => {
                            last_reason = format!("leader of shard {shard} moved from node {l}");
                            None
                        }
                    }
                }
            };
            match reply {
                Some(pb::propose_reply::Result::Outcome(o)) => {
                    metrics::histogram!("balsa_raft_commit_seconds").record(started.elapsed().as_secs_f64());
                    return Ok(ApplyOutcome { accepted: o.accepted, rejected: o.rejected });
                }
                Some(pb::propose_reply::Result::NotLeader(nl)) => {
                    last_reason = format!("leader moved (hint: {:?})", nl.known.then_some(nl.leader));
                    if nl.known && nl.leader != leader.unwrap_or(u64::MAX) {
                        hint = Some(nl.leader);
                        continue;
                    }
                }
                Some(pb::propose_reply::Result::Unavailable(reason)) => last_reason = reason,
                None => {}
            }
            tokio::time::sleep(RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    async fn propose_here_timeout(&self, shard: u32, command: Vec<u8>, timeout: Duration) -> pb::propose_reply::Result {
        let Some(g) = self.groups.get(shard as usize) else {
            return pb::propose_reply::Result::Unavailable(format!("no shard {shard}"));
        };
        let deadline = Instant::now() + timeout;
        let mut res = tokio::time::timeout(timeout, g.raft.client_write(Command(command.clone()))).await;
        // A quiesced leader's quorum lease has lapsed (no heartbeats while
        // idle): openraft refuses with an empty ForwardToLeader. Wake the
        // group, renew the lease with one heartbeat round, and try again.
        while let Ok(Err(OpenraftError::APIError(ClientWriteError::ForwardToLeader(f)))) = &res {
            if f.leader_id.is_some() || self.leader_of(shard) != Some(self.id) || Instant::now() >= deadline {
                break;
            }
            g.raft.runtime_config().tick(true);
            let _ = g.raft.trigger().heartbeat().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            let left = deadline.saturating_duration_since(Instant::now());
            res = tokio::time::timeout(left, g.raft.client_write(Command(command.clone()))).await;
        }
        match res {
            Err(_) => pb::propose_reply::Result::Unavailable(format!(
                "shard {shard}: not committed within {timeout:?} (no quorum?)"
            )),
            Ok(Ok(resp)) => pb::propose_reply::Result::Outcome(pb::Outcome {
                accepted: resp.data.accepted,
                rejected: resp.data.rejected,
            }),
            Ok(Err(OpenraftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                pb::propose_reply::Result::NotLeader(pb::NotLeader {
                    known: f.leader_id.is_some(),
                    leader: f.leader_id.unwrap_or(0),
                })
            }
            Ok(Err(e)) => pb::propose_reply::Result::Unavailable(format!("shard {shard}: {e}")),
        }
    }

    /// Proposes on this node (the caller believes it leads the shard).
    pub(crate) async fn propose_here(&self, shard: u32, command: Vec<u8>) -> pb::propose_reply::Result {
        self.propose_here_timeout(shard, command, self.op_timeout).await
    }

    /// The leader's read index for `shard`, if this node leads it.
    pub(crate) async fn read_index_here(&self, shard: u32) -> pb::ReadIndexReply {
        let Some(g) = self.groups.get(shard as usize) else {
            return pb::ReadIndexReply { error: format!("no shard {shard}"), ..Default::default() };
        };
        let res = tokio::time::timeout(self.op_timeout, g.raft.get_read_log_id(openraft::ReadPolicy::ReadIndex)).await;
        match res {
            Err(_) => pb::ReadIndexReply { error: "read index timed out (no quorum?)".into(), ..Default::default() },
            Ok(Ok((read, _applied))) => pb::ReadIndexReply { ok: true, index: read.index(), ..Default::default() },
            Ok(Err(OpenraftError::APIError(LinearizableReadError::ForwardToLeader(f)))) => pb::ReadIndexReply {
                not_leader: Some(pb::NotLeader { known: f.leader_id.is_some(), leader: f.leader_id.unwrap_or(0) }),
                ..Default::default()
            },
            Ok(Err(e)) => pb::ReadIndexReply { error: e.to_string(), ..Default::default() },
        }
    }

    /// Waits until this node's replica of `shard` has applied everything
    /// committed before the call (read-index, asked of the leader), so a
    /// read here sees every write acknowledged anywhere before it started.
    pub async fn read_barrier(&self, shard: u32) -> Result<(), ProposeError> {
        let g = self.group(shard)?;
        let deadline = Instant::now() + self.op_timeout;
        let mut last_reason = String::from("no leader elected");
        let mut hint = None;
        let mut guesses = 0usize;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ProposeError::Unavailable { shard, reason: last_reason });
            }
            let leader = hint.take().or_else(|| self.leader_of(shard)).or_else(|| self.guess_peer(&mut guesses));
            let reply = match leader {
                None => None,
                Some(l) if l == self.id => Some(self.read_index_here(shard).await),
                Some(l) => {
                    let call =
                        self.pool.call(l, remaining, |mut c| async move { c.read_index(pb::ShardRef { shard }).await });
                    tokio::select! {
                        r = call => match r {
                            Ok(r) => Some(r),
                            Err(e) => {
                                last_reason = e.to_string();
                                None
                            }
                        },
                        _ = self.leader_moves_from(shard, l) => None,
                    }
                }
            };
            if let Some(r) = reply {
                if r.ok {
                    let wait = g.raft.wait(Some(deadline.saturating_duration_since(Instant::now())));
                    return match wait.applied_index_at_least(Some(r.index), "read barrier").await {
                        Ok(_) => Ok(()),
                        Err(e) => {
                            Err(ProposeError::Unavailable { shard, reason: format!("catching up to read index: {e}") })
                        }
                    };
                }
                if let Some(nl) = r.not_leader {
                    if nl.known && Some(nl.leader) != leader {
                        hint = Some(nl.leader);
                        continue;
                    }
                }
                if !r.error.is_empty() {
                    last_reason = r.error;
                }
            }
            tokio::time::sleep(RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// A reader over this node's replica of `shard`.
    pub fn reader(&self, shard: u32) -> Option<ShardReader> {
        let g = self.groups.get(shard as usize)?;
        let cold = self.cold.read().expect("cold lock").clone();
        Some(g.storage.reader(Arc::new(self.db.sm_kv())).with_cold(cold))
    }

    /// Differs every time this node's process starts.
    pub fn boot_id(&self) -> u64 {
        self.boot_id
    }

    /// This node's replica of `shard`'s storage (for retention planning).
    pub fn shard_storage(&self, shard: u32) -> Option<Arc<Shard>> {
        self.groups.get(shard as usize).map(|g| Arc::clone(&g.storage))
    }

    /// Lets readers fetch chunks that were moved to an object store.
    pub fn set_cold(&self, cold: Arc<dyn ColdChunks>) {
        *self.cold.write().expect("cold lock") = Some(cold);
    }

    /// True when this node currently leads `shard`'s group.
    pub fn is_leader(&self, shard: u32) -> bool {
        self.groups
            .get(shard as usize)
            .is_some_and(|g| g.raft.metrics().borrow_watched().current_leader == Some(self.id))
    }

    /// The term of `shard`'s group when this node leads it: a new term means
    /// a new election, even when this node wins again.
    pub fn leader_term(&self, shard: u32) -> Option<u64> {
        let g = self.groups.get(shard as usize)?;
        let m = g.raft.metrics().borrow_watched().clone();
        (m.current_leader == Some(self.id)).then_some(m.current_term)
    }

    /// True when every group has a leader and this replica has caught up
    /// with what its group had committed (once since start).
    pub fn ready(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.groups.iter().all(|g| {
            let metrics = g.raft.metrics();
            let m = metrics.borrow_watched();
            if m.current_leader.is_none() {
                return false;
            }
            if g.caught_up.load(Ordering::Acquire) {
                return true;
            }
            let applied = m.last_applied.as_ref().map_or(0, |l| l.index);
            let committed = m.cluster_committed.as_ref().map_or(0, |l| l.index);
            let caught_up = applied + CAUGHT_UP_LAG >= committed;
            if caught_up {
                g.caught_up.store(true, Ordering::Release);
            }
            caught_up
        })
    }

    /// Groups this replica has not caught up with yet, for `/ready`'s message.
    pub fn catching_up(&self) -> Vec<u32> {
        self.groups
            .iter()
            .filter(|g| !g.caught_up.load(std::sync::atomic::Ordering::Acquire))
            .map(|g| g.shard)
            .collect()
    }

    /// Waits up to `timeout` for [`ready`](Self::ready).
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.ready() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.ready()
    }

    pub fn status(&self) -> Vec<GroupStatus> {
        self.groups
            .iter()
            .map(|g| {
                let m = g.raft.metrics().borrow_watched().clone();
                let stats = g.storage.stats();
                let replicas = m
                    .replication
                    .as_ref()
                    .map(|r| r.iter().map(|(n, l)| (*n, l.as_ref().map(|l| l.index))).collect())
                    .unwrap_or_default();
                GroupStatus {
                    shard: g.shard,
                    leader: m.current_leader,
                    term: m.current_term,
                    last_log: m.last_log_index,
                    applied: m.last_applied.map(|l| l.index),
                    replicas,
                    streams: stats.streams,
                    chunks: stats.chunks,
                }
            })
            .collect()
    }

    /// Moves leadership of groups this node leads beyond its fair share
    /// (`ceil(groups / members)`) to the caught-up member leading fewest.
    /// Returns how many transfers it started.
    pub async fn rebalance_leaders(&self) -> usize {
        let n = self.members.len();
        if n <= 1 {
            return 0;
        }
        let fair = self.groups.len().div_ceil(n);
        let mut count: BTreeMap<NodeId, usize> = self.members.keys().map(|id| (*id, 0)).collect();
        let mut mine = Vec::new();
        for g in &self.groups {
            let m = g.raft.metrics().borrow_watched().clone();
            if let Some(l) = m.current_leader {
                *count.entry(l).or_default() += 1;
                if l == self.id {
                    mine.push((g, m));
                }
            }
        }
        let mut started = 0;
        while count[&self.id] > fair {
            let Some((g, m)) = mine.pop() else { break };
            // A target must be caught up with this leader's log.
            let target = count
                .iter()
                .filter(|(id, _)| **id != self.id && self.can_take_over(&m, **id))
                .min_by_key(|(id, c)| (**c, **id))
                .map(|(id, _)| *id);
            let Some(target) = target else { continue };
            if count[&target] + 1 > fair {
                break;
            }
            if self.transfer_leader(g, target, m.current_term).await {
                tracing::info!(shard = g.shard, to = target, "transferring leadership to balance leaders");
                *count.get_mut(&self.id).expect("self counted") -= 1;
                *count.get_mut(&target).expect("target counted") += 1;
                started += 1;
            }
        }
        started
    }

    /// Asks openraft to hand `g`'s leadership to `to`, and remembers it. A
    /// leader that is transferring forwards every request to the target
    /// until a new term begins; if the target never got the request (cut
    /// off as it was sent), nothing else would end that state.
    async fn transfer_leader(&self, g: &Group, to: NodeId, term: u64) -> bool {
        let ok = g.raft.trigger().transfer_leader(to).await.is_ok();
        if ok {
            let t = Transfer { to, term, at: Instant::now() };
            self.transfers.lock().expect("transfers lock").insert(g.shard, t);
        }
        ok
    }

    /// Transfers that did not finish within [`TRANSFER_TIMEOUT`] while this
    /// node still leads in the same term: transfer again, to a caught-up
    /// member that answers pings, so the group leaves the transferring state.
    async fn retry_stuck_transfers(&self) {
        let pending: Vec<(u32, Transfer)> =
            self.transfers.lock().expect("transfers lock").iter().map(|(s, t)| (*s, *t)).collect();
        for (shard, t) in pending {
            let Some(g) = self.groups.get(shard as usize) else { continue };
            let m = g.raft.metrics().borrow_watched().clone();
            if m.current_leader != Some(self.id) || m.current_term != t.term {
                self.transfers.lock().expect("transfers lock").remove(&shard);
                continue;
            }
            if t.at.elapsed() < TRANSFER_TIMEOUT {
                continue;
            }
            let candidates: Vec<NodeId> =
                self.members.keys().copied().filter(|n| *n != self.id && self.can_take_over(&m, *n)).collect();
            let Some(to) = candidates.iter().copied().find(|n| *n == t.to).or_else(|| candidates.first().copied())
            else {
                continue;
            };
            tracing::warn!(shard, stuck_on = t.to, to, "leadership transfer did not finish; transferring again");
            self.transfer_leader(g, to, t.term).await;
        }
    }

    /// Before a planned stop: hands every group this node leads to a
    /// caught-up peer, and waits up to `timeout` for the moves, so clients
    /// see no election gap during a rolling restart.
    pub async fn hand_off_leadership(&self, timeout: Duration) {
        let others: Vec<NodeId> = self.members.keys().copied().filter(|id| *id != self.id).collect();
        if others.is_empty() {
            return;
        }
        let mut moved = 0usize;
        for (i, g) in self.groups.iter().enumerate() {
            let m = g.raft.metrics().borrow_watched().clone();
            if m.current_leader != Some(self.id) {
                continue;
            }
            let caught_up: Vec<NodeId> = others.iter().copied().filter(|n| self.can_take_over(&m, *n)).collect();
            if caught_up.is_empty() {
                continue;
            }
            let target = caught_up[i % caught_up.len()];
            if self.transfer_leader(g, target, m.current_term).await {
                moved += 1;
            }
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && self.groups.iter().any(|g| self.leader_of(g.shard) == Some(self.id)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let still = self.groups.iter().filter(|g| self.leader_of(g.shard) == Some(self.id)).count();
        tracing::info!(moved, still_leading = still, "handed off leadership before stopping");
    }

    /// Whether `node` restarted after `since`: a new process leads nothing,
    /// whatever followers last heard from the old one.
    fn peer_restarted_after(&self, node: NodeId, since: Instant) -> bool {
        self.liveness.restarted_at.lock().expect("liveness lock").get(&node).is_some_and(|t| *t > since)
    }

    /// Whether `node` can take over a group this node leads: it holds the
    /// leader's whole log and answers pings. A cut-off follower of an idle
    /// (or quiesced) group still matches the whole log; handing it the
    /// leadership left the group leaderless until an election, again at
    /// every rebalance.
    fn can_take_over(&self, m: &openraft::RaftMetrics<TypeConfig>, node: NodeId) -> bool {
        replica_caught_up(m, node) && self.peer_alive(node)
    }

    fn peer_alive(&self, node: NodeId) -> bool {
        node == self.id
            || self
                .liveness
                .last_ok
                .lock()
                .expect("liveness lock")
                .get(&node)
                .is_some_and(|t| t.elapsed() < PEER_DOWN_AFTER)
    }

    /// Pings every peer forever (one call per peer per `PING_EVERY`).
    pub async fn run_liveness(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PING_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let pings = self.pool.peers().into_iter().map(|peer| {
                let req = pb::HelloRequest { from: self.id, shards: self.shard_count() };
                let pool = Arc::clone(&self.pool);
                async move {
                    let reply = pool.call(peer, PEER_DOWN_AFTER / 2, |mut c| async move { c.hello(req).await }).await;
                    (peer, reply.ok().map(|r| r.boot_id))
                }
            });
            let now = Instant::now();
            for (peer, boot) in futures::future::join_all(pings).await {
                let Some(boot) = boot else {
                    if !self.peer_alive(peer) && self.liveness.reported_down.lock().expect("liveness lock").insert(peer)
                    {
                        tracing::warn!(peer, silent_for = ?PEER_DOWN_AFTER, "peer unreachable");
                    }
                    continue;
                };
                if self.liveness.reported_down.lock().expect("liveness lock").remove(&peer) {
                    tracing::info!(peer, "peer reachable");
                }
                self.liveness.last_ok.lock().expect("liveness lock").insert(peer, now);
                let previous = self.liveness.boots.lock().expect("liveness lock").insert(peer, boot);
                if previous.is_some_and(|p| p != boot) {
                    tracing::info!(peer, "peer restarted; waking quiesced groups");
                    self.liveness.restarted_at.lock().expect("liveness lock").insert(peer, Instant::now());
                    self.liveness.wake.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            self.retry_stuck_transfers().await;
        }
    }

    /// Quiesces idle groups, as TiKV's hibernate regions and CockroachDB's
    /// quiescence do: a group with no new log entry for `IDLE_AFTER`, whose
    /// replicas are caught up and whose leader's node answers pings, stops
    /// its ticker (no heartbeats, no election timer). Leader failure is then
    /// detected by the node-level pings instead, and the group is woken (and,
    /// on the lowest live follower, an election triggered at once). Any new
    /// entry wakes it too. Idle cost so scales with nodes, not groups.
    pub async fn run_quiescence(self: Arc<Self>) {
        let mut state: Vec<QuiesceState> = self
            .groups
            .iter()
            .map(|_| QuiesceState {
                last_log: None,
                changed_at: Instant::now(),
                ticking: true,
                elect_requested_for: None,
                leader_seen: None,
            })
            .collect();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut wake_seen = self.liveness.wake.load(std::sync::atomic::Ordering::SeqCst);
        loop {
            tick.tick().await;
            let wake = self.liveness.wake.load(std::sync::atomic::Ordering::SeqCst);
            if wake != wake_seen {
                // A peer restarted: every group ticks again for a while, so
                // leaders send it heartbeats and find out what it lacks.
                wake_seen = wake;
                for st in state.iter_mut() {
                    st.changed_at = Instant::now();
                }
            }
            let sleeping = state.iter().filter(|s| !s.ticking).count();
            metrics::gauge!("balsa_quiesced_groups").set(sleeping as f64);
            for (g, st) in self.groups.iter().zip(state.iter_mut()) {
                // Read in place: cloning every group's metrics each round
                // would cost more than the heartbeats it saves.
                let (last_log, caught_up, leader, term, followers_ok) = {
                    let m = g.raft.metrics();
                    let m = m.borrow_watched();
                    let followers_ok = m.replication.as_ref().is_some_and(|r| {
                        r.iter().all(|(n, matched)| {
                            *n == self.id
                                || (self.peer_alive(*n) && matched.as_ref().map(|x| x.index) == m.last_log_index)
                        })
                    });
                    (
                        m.last_log_index,
                        m.last_applied.as_ref().map(|l| l.index) == m.last_log_index,
                        m.current_leader,
                        m.current_term,
                        followers_ok,
                    )
                };
                if last_log != st.last_log {
                    st.last_log = last_log;
                    st.changed_at = Instant::now();
                }
                if let Some(l) = leader
                    && st.leader_seen.is_none_or(|(sl, t, _)| sl != l || t != term)
                {
                    st.leader_seen = Some((l, term, Instant::now()));
                }
                let idle = st.changed_at.elapsed() >= IDLE_AFTER;
                // A leader whose node restarted since we learned of it leads
                // nothing any more: the group must elect, not sleep.
                let stale = leader.is_some_and(|l| {
                    st.leader_seen.is_some_and(|(sl, t, at)| sl == l && t == term && self.peer_restarted_after(l, at))
                });
                let quiet = idle
                    && caught_up
                    && !stale
                    && match leader {
                        None => false,
                        Some(l) if l == self.id => followers_ok,
                        Some(l) => self.peer_alive(l),
                    };
                if quiet != !st.ticking {
                    g.raft.runtime_config().tick(!quiet);
                    st.ticking = !quiet;
                    tracing::trace!(shard = g.shard, quiet, "group ticker");
                }
                // The leader's node is down, or restarted (a new process
                // leads nothing): elect now rather than after a full election
                // timeout; only the lowest live follower asks, so the two
                // survivors do not split the vote.
                if let Some(l) = leader {
                    if l != self.id && (!self.peer_alive(l) || stale) {
                        let lowest_live = self.members.keys().copied().filter(|n| *n != l && self.peer_alive(*n)).min();
                        // Asked again every second: openraft skips the
                        // request while the old leader's lease lasts.
                        let due = st
                            .elect_requested_for
                            .is_none_or(|(rl, rt, at)| rl != l || rt != term || at.elapsed() >= Duration::from_secs(1));
                        if lowest_live == Some(self.id) && due {
                            st.elect_requested_for = Some((l, term, Instant::now()));
                            tracing::info!(shard = g.shard, dead_leader = l, "leader's node is down; electing");
                            let _ = g.raft.trigger().elect(true).await;
                        }
                    }
                }
            }
        }
    }

    /// Stops every group and makes everything written durable.
    pub async fn shutdown(&self) {
        for g in &self.groups {
            if let Err(e) = g.raft.shutdown().await {
                tracing::warn!(shard = g.shard, error = %e, "raft shutdown");
            }
        }
        if let Err(e) = self.db.close().await {
            tracing::warn!(error = %e, "final wal flush");
        }
    }
}

/// On a leader: whether `node`'s replica has matched the leader's last log
/// entry (a safe target for a leadership transfer).
fn replica_caught_up(m: &openraft::RaftMetrics<TypeConfig>, node: NodeId) -> bool {
    m.replication.as_ref().and_then(|r| r.get(&node)).is_some_and(|l| l.as_ref().map(|l| l.index) == m.last_log_index)
}

fn shard_dir(snapshots: &Path, shard: u32) -> PathBuf {
    snapshots.join(format!("shard-{shard}"))
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<RaftNode>();
    let _ = std::marker::PhantomData::<TypeConfig>;
}
