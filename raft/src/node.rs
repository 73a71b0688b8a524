//! A node's set of shard groups: opens them over one `Db`, initializes them,
//! proposes commands, and serves linearizable reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use balsa_storage::{ApplyOutcome, IngesterConfig, Shard, ShardCommand, ShardReader};
use openraft::BasicNode;
use openraft::async_runtime::WatchReceiver;
use prost::Message;

use crate::config::RaftConfig;
use crate::db::Db;
use crate::error::{ProposeError, RaftError};
use crate::log_store::LogStore;
use crate::network::Network;
use crate::state_machine::StateMachine;
use crate::types::{Command, NodeId, Raft};

const SHARD_COUNT_KEY: &str = "shard_count";

struct Group {
    shard: u32,
    raft: Raft,
    storage: Arc<Shard>,
}

/// What an operator wants to see of one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    pub shard: u32,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub committed: Option<u64>,
    pub applied: Option<u64>,
    pub streams: u64,
    pub chunks: u64,
}

pub struct RaftNode {
    id: NodeId,
    db: Arc<Db>,
    groups: Vec<Group>,
}

impl RaftNode {
    /// Opens (or creates) every shard group of this node under `data_dir`.
    /// A data directory remembers its shard count; a different `shards`
    /// value is refused. On a single node each group is initialized with this
    /// node as its only voter, once: a restart never re-initializes.
    pub async fn open(
        id: NodeId,
        data_dir: &Path,
        shards: u32,
        ingester: IngesterConfig,
        raft: RaftConfig,
    ) -> Result<Self, RaftError> {
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
        let config = Arc::new(raft.to_openraft().map_err(|e| RaftError::Raft(e.to_string()))?);
        let snapshots: PathBuf = data_dir.join("snapshots");
        let mut groups = Vec::with_capacity(shards as usize);
        let started = Instant::now();
        for shard in 0..shards {
            let kv = db.sm_kv();
            let storage = Arc::new(Shard::open(shard, ingester.clone(), &kv)?);
            let sm = StateMachine::open(
                shard,
                Arc::clone(&db),
                Arc::clone(&storage),
                snapshots.join(format!("shard-{shard}")),
            )?;
            let log = LogStore::new(shard, Arc::clone(&db));
            let raft = Raft::new(id, Arc::clone(&config), Network, log, sm)
                .await
                .map_err(|e| RaftError::Raft(e.to_string()))?;
            groups.push(Group { shard, raft, storage });
        }
        let node = Self { id, db, groups };
        node.initialize_single().await?;
        tracing::info!(node = id, shards, elapsed_ms = started.elapsed().as_millis() as u64, "opened shard groups");
        Ok(node)
    }

    async fn initialize_single(&self) -> Result<(), RaftError> {
        for g in &self.groups {
            if g.raft.is_initialized().await.map_err(|e| RaftError::Raft(e.to_string()))? {
                continue;
            }
            let members = BTreeMap::from([(self.id, BasicNode::new(String::new()))]);
            g.raft
                .initialize(members)
                .await
                .map_err(|e| RaftError::Raft(format!("initialize shard {}: {e}", g.shard)))?;
        }
        Ok(())
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn shard_count(&self) -> u32 {
        self.groups.len() as u32
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    fn group(&self, shard: u32) -> Result<&Group, ProposeError> {
        self.groups.get(shard as usize).ok_or(ProposeError::NoSuchShard(shard))
    }

    /// Replicates `cmd` through the shard's group and returns what applying
    /// it did. Returns once the entry is committed (durable on a quorum) and
    /// applied on this node.
    pub async fn propose(&self, shard: u32, cmd: &ShardCommand) -> Result<ApplyOutcome, ProposeError> {
        let g = self.group(shard)?;
        let started = Instant::now();
        let res = g.raft.client_write(Command(cmd.encode_to_vec())).await;
        metrics::histogram!("balsa_raft_commit_seconds").record(started.elapsed().as_secs_f64());
        match res {
            Ok(resp) => Ok(resp.data),
            Err(e) => Err(classify(shard, e)),
        }
    }

    /// Waits until this node's replica of `shard` has applied everything
    /// committed before the call (read-index), so a read sees every write
    /// acknowledged before it started.
    pub async fn read_barrier(&self, shard: u32) -> Result<(), ProposeError> {
        let g = self.group(shard)?;
        g.raft
            .ensure_linearizable(openraft::ReadPolicy::ReadIndex)
            .await
            .map(|_| ())
            .map_err(|e| ProposeError::Unavailable { shard, reason: e.to_string() })
    }

    /// A reader over this node's replica of `shard`.
    pub fn reader(&self, shard: u32) -> Option<ShardReader> {
        let g = self.groups.get(shard as usize)?;
        Some(g.storage.reader(Arc::new(self.db.sm_kv())))
    }

    /// True when every group has a leader.
    pub fn ready(&self) -> bool {
        self.groups.iter().all(|g| g.raft.metrics().borrow_watched().current_leader.is_some())
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
                GroupStatus {
                    shard: g.shard,
                    leader: m.current_leader,
                    term: m.current_term,
                    committed: m.last_log_index,
                    applied: m.last_applied.map(|l| l.index),
                    streams: stats.streams,
                    chunks: stats.chunks,
                }
            })
            .collect()
    }

    /// Stops every group and makes everything written durable.
    pub async fn shutdown(&self) {
        for g in &self.groups {
            if let Err(e) = g.raft.shutdown().await {
                tracing::warn!(shard = g.shard, error = %e, "raft shutdown");
            }
        }
        if let Err(e) = self.db.durable().await {
            tracing::warn!(error = %e, "final wal flush");
        }
    }
}

fn classify(
    shard: u32,
    e: openraft::errors::RaftError<
        crate::types::TypeConfig,
        openraft::errors::ClientWriteError<crate::types::TypeConfig>,
    >,
) -> ProposeError {
    use openraft::errors::{ClientWriteError, RaftError as OpenraftError};
    match e {
        OpenraftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            ProposeError::NotLeader { shard, leader: f.leader_id }
        }
        OpenraftError::APIError(other) => ProposeError::Unavailable { shard, reason: other.to_string() },
        OpenraftError::Fatal(f) => ProposeError::Fatal { shard, reason: f.to_string() },
    }
}
