//! Errors of the replication layer, by kind.

use balsa_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    #[error("rocksdb: {context}: {source}")]
    Rocks { context: String, source: rocksdb::Error },
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "this data directory was created with {recorded} shards, but cluster.shards is {configured}; the shard count cannot change"
    )]
    ShardCountMismatch { recorded: u32, configured: u32 },
    #[error("raft: {0}")]
    Raft(String),
}

impl RaftError {
    pub fn rocks(context: impl Into<String>) -> impl FnOnce(rocksdb::Error) -> RaftError {
        let context = context.into();
        move |source| RaftError::Rocks { context, source }
    }
}

/// Why a proposal was not committed.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// No leader is known or reachable for the shard (no quorum): retryable.
    #[error("shard {shard} has no leader: {reason}")]
    Unavailable { shard: u32, reason: String },
    /// Another node leads the shard; the caller should forward.
    #[error("shard {shard} is led by node {leader:?}")]
    NotLeader { shard: u32, leader: Option<u64> },
    /// The node is shutting down or storage failed.
    #[error("shard {shard}: {reason}")]
    Fatal { shard: u32, reason: String },
    #[error("no such shard {0}")]
    NoSuchShard(u32),
}
