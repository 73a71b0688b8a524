//! Raft timing for every group of a node.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Build a snapshot after this many applied entries since the last one.
    pub snapshot_logs_since_last: u64,
    /// Keep this many entries in the log behind a snapshot for slow followers.
    pub max_in_snapshot_log_to_keep: u64,
    /// How long a proposal or read barrier may wait for a leader and a
    /// quorum before the shard is reported unavailable (HTTP 503).
    pub op_timeout: Duration,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            // Short timeouts for fast failover; idle groups stop ticking
            // altogether (see RaftNode::run_quiescence), so only busy groups
            // pay for heartbeats, and replication traffic suppresses most of
            // those (heartbeat_min_interval).
            heartbeat_interval: Duration::from_millis(250),
            election_timeout_min: Duration::from_millis(750),
            election_timeout_max: Duration::from_millis(1500),
            // Building a snapshot only records metadata (the state machine
            // is already durable), so snapshotting often is cheap and keeps
            // the log, which holds whole pushes, small on disk.
            snapshot_logs_since_last: 1000,
            max_in_snapshot_log_to_keep: 500,
            op_timeout: Duration::from_secs(10),
        }
    }
}

impl RaftConfig {
    pub(crate) fn to_openraft(&self) -> Result<openraft::Config, openraft::ConfigError> {
        openraft::Config {
            cluster_name: "balsa".to_string(),
            heartbeat_interval: self.heartbeat_interval.as_millis() as u64,
            election_timeout_min: self.election_timeout_min.as_millis() as u64,
            election_timeout_max: self.election_timeout_max.as_millis() as u64,
            heartbeat_min_interval: Some(self.heartbeat_interval.as_millis() as u64),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_logs_since_last),
            max_in_snapshot_log_to_keep: self.max_in_snapshot_log_to_keep,
            // A replica whose data directory was wiped rejoins under its id
            // with an empty log; the leader must rebuild it (by log or
            // snapshot) instead of treating the reversion as a bug. The risk,
            // documented in docs/ARCHITECTURE.md: until it has caught up, the
            // wiped replica may vote for a candidate missing entries only it
            // had acknowledged, so a wipe plus another failure can lose data.
            allow_log_reversion: Some(true),
            ..Default::default()
        }
        .validate()
    }
}
