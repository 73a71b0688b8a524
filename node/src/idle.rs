//! Idle sealing without traffic. A shard's clock only moves with the entries
//! it applies, so a quiet shard would keep its head chunks forever. The
//! leader of each group therefore proposes its wall-clock time (`Tick`) when
//! the shard holds head data and its clock lags by `chunk_idle_period`;
//! apply seals idle heads from it as from any other time, identically on
//! every replica.

use std::sync::Arc;
use std::time::Duration;

use balsa_raft::RaftNode;
use balsa_storage::ShardCommand;

pub async fn run_ticks(raft: Arc<RaftNode>, idle_period: Duration) {
    let idle_ns = idle_period.as_nanos() as i64;
    let every = (idle_period / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let now = crate::deletion::wall_clock_ns();
        for shard in 0..raft.shard_count() {
            if !raft.is_leader(shard) {
                continue;
            }
            let Some(storage) = raft.shard_storage(shard) else { continue };
            if storage.stats().head_entries == 0 || now.saturating_sub(storage.clock_ns()) < idle_ns {
                continue;
            }
            if let Err(e) = raft.propose(shard, &ShardCommand::tick(now)).await {
                tracing::debug!(shard, error = %e, "tick not committed; will retry");
            }
        }
    }
}
