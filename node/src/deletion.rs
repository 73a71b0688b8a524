//! Processing log deletion requests (`/loki/api/v1/delete`). Requests live
//! in shard 0's group. Once a request's cancel period has passed, the leader
//! of shard 0 plans, for every shard, the rewrites of the chunks and the head
//! entries it touches (reading its local replica after a read barrier, cold
//! chunks through the S3 cache) and proposes them to that shard's group, so
//! every replica deletes the same entries. Rewritten chunks become local and
//! are uploaded again; the old objects are swept. Then the request is marked
//! processed.

use std::sync::Arc;
use std::time::Duration;

use balsa_model::StreamReader;
use balsa_query::{DeleteSelector, PendingDelete};
use balsa_raft::RaftNode;
use balsa_storage::ShardCommand;
use balsa_storage::command::{DeleteRequest, DeleteRequestOp, shard_command};
use balsa_storage::tier::{self, ObjectStore, Tombstone};

/// The shard whose group keeps the delete requests.
pub const REQUESTS_SHARD: u32 = 0;

pub struct Deletion {
    pub raft: Arc<RaftNode>,
    pub cancel_period: Duration,
    pub interval: Duration,
    /// The object store and key prefix, when chunks are tiered: a rewritten
    /// cold chunk gets a tombstone so that a recovery from the bucket never
    /// adopts the old copy.
    pub store: Option<(Arc<dyn ObjectStore>, String)>,
}

/// Every delete request, read from this node's replica of shard 0 after a
/// read barrier (so a request just acknowledged is listed).
pub async fn requests(raft: &Arc<RaftNode>) -> Result<Vec<DeleteRequest>, String> {
    raft.read_barrier(REQUESTS_SHARD).await.map_err(|e| e.to_string())?;
    let reader = raft.reader(REQUESTS_SHARD).ok_or("no shard 0")?;
    tokio::task::spawn_blocking(move || reader.delete_requests())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// The delete requests not processed yet, compiled; `None` when there are
/// none (shard 0 is already read-barriered by the caller).
pub async fn pending(raft: &Arc<RaftNode>) -> Result<Option<Arc<[PendingDelete]>>, String> {
    let reader = raft.reader(REQUESTS_SHARD).ok_or("no shard 0")?;
    let requests = tokio::task::spawn_blocking(move || reader.delete_requests())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let pending: Vec<PendingDelete> = requests
        .into_iter()
        .filter(|r| !r.processed)
        .filter_map(|r| {
            let selector = DeleteSelector::parse(&r.query).ok()?;
            Some(PendingDelete { tenant: r.tenant, selector, start_ns: r.start_ns, end_ns: r.end_ns })
        })
        .collect();
    Ok((!pending.is_empty()).then(|| pending.into()))
}

impl Deletion {
    pub async fn run(self) {
        loop {
            tokio::time::sleep(self.interval).await;
            if !self.raft.is_leader(REQUESTS_SHARD) {
                continue;
            }
            if let Err(e) = self.round(wall_clock_ms()).await {
                tracing::warn!(error = %e, "processing delete requests failed; will retry");
            }
        }
    }

    /// Processes every request whose cancel period is over at `now_ms`.
    pub async fn round(&self, now_ms: i64) -> Result<usize, String> {
        let cancel_ms = self.cancel_period.as_millis() as i64;
        let due: Vec<DeleteRequest> = requests(&self.raft)
            .await?
            .into_iter()
            .filter(|r| !r.processed && r.created_ms.saturating_add(cancel_ms) <= now_ms)
            .collect();
        let mut done = 0;
        for request in due {
            let mut removed = 0u64;
            for shard in 0..self.raft.shard_count() {
                removed += self.delete_in_shard(shard, &request).await?;
            }
            let cmd = ShardCommand::delete_request(DeleteRequestOp::MarkProcessed, request.clone());
            self.raft.propose(REQUESTS_SHARD, &cmd).await.map_err(|e| e.to_string())?;
            metrics::counter!("balsa_delete_requests_processed_total").increment(1);
            tracing::info!(
                request_id = %request.request_id,
                tenant = %request.tenant,
                removed,
                "delete request processed"
            );
            done += 1;
        }
        Ok(done)
    }

    /// Plans and proposes one request's deletions in one shard; returns how
    /// many entries went away.
    async fn delete_in_shard(&self, shard: u32, request: &DeleteRequest) -> Result<u64, String> {
        self.raft.read_barrier(shard).await.map_err(|e| e.to_string())?;
        let reader = self.raft.reader(shard).ok_or("no such shard")?;
        let request_tenant = request.tenant.clone();
        let request = request.clone();
        let plan = tokio::task::spawn_blocking(move || -> Result<Vec<ShardCommand>, String> {
            let selector = match DeleteSelector::parse(&request.query) {
                Ok(s) => s,
                Err(e) => {
                    // Validated when received; a query that no longer parses deletes nothing.
                    tracing::warn!(request_id = %request.request_id, error = %e, "unparsable delete request");
                    return Ok(Vec::new());
                }
            };
            let streams = reader
                .streams(&request.tenant, request.start_ns, request.end_ns, &mut |l| selector.selects(l))
                .map_err(|e| e.to_string())?;
            let mut plan = Vec::new();
            for stream in streams {
                let mut matches = selector.entries_of(&stream.labels);
                plan.extend(
                    reader
                        .plan_deletion(stream.id, request.start_ns, request.end_ns, &mut matches)
                        .map_err(|e| e.to_string())?,
                );
            }
            Ok(plan)
        })
        .await
        .map_err(|e| e.to_string())??;
        let mut removed = 0;
        for cmd in plan {
            if let (Some((store, prefix)), Some(shard_command::Kind::RewriteChunk(r))) = (&self.store, &cmd.kind)
                && !r.expect_object.is_empty()
            {
                // Before the rewrite commits: a crash in between leaves a
                // tombstone for a copy still in use, which only matters for
                // a recovery before the request is processed again.
                let tombstone = Tombstone {
                    stream_id: r.stream_id,
                    key_min_ts: r.min_ts,
                    seq: r.seq,
                    generation: r.expect_generation,
                };
                let key = tier::tombstone_key(prefix, &request_tenant, &tombstone);
                store.put(&key, Vec::new()).await.map_err(|e| e.to_string())?;
            }
            removed += self.raft.propose(shard, &cmd).await.map_err(|e| e.to_string())?.accepted;
        }
        Ok(removed)
    }
}

pub fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

pub fn wall_clock_ms() -> i64 {
    wall_clock_ns() / 1_000_000
}
