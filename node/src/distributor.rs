//! The distributor: splits a validated push by shard, proposes each part to
//! its group, and acknowledges only when every part is committed. The read
//! side hands out shard readers after a read-index barrier.

use std::collections::BTreeMap;
use std::sync::Arc;

use balsa_api::{Backend, BackendError, CancelRefused, DeleteRequestInfo, PushOutcome};
use balsa_model::{PushRequest, StreamReader, TenantId, shard_of};
use balsa_push::Overrides;
use balsa_query::DeleteFiltered;
use balsa_raft::{ProposeError, RaftNode};
use balsa_storage::command::{DeleteRequest, DeleteRequestOp, StreamEntries};
use balsa_storage::{Push, ShardCommand};
use futures::future::{BoxFuture, join_all};

pub struct Distributor {
    raft: Arc<RaftNode>,
    failpoints: Failpoints,
    /// Loki's out-of-order window: `max_chunk_age / 2`.
    out_of_order_window_ns: i64,
    /// Per-tenant limits, for `unordered_writes`.
    limits: Arc<Overrides>,
    /// With an object store, each shard first adopts the chunks the bucket
    /// holds (disaster recovery); until every shard has, answers would be
    /// silently incomplete, so the node is not ready and queries fail.
    adoption: Option<Arc<crate::tiering::Adoption>>,
}

impl Distributor {
    pub fn new(raft: Arc<RaftNode>, max_chunk_age_ns: i64, limits: Arc<Overrides>) -> Self {
        Self {
            raft,
            failpoints: Failpoints::from_env(),
            out_of_order_window_ns: max_chunk_age_ns / 2,
            limits,
            adoption: None,
        }
    }

    /// Queries and `/ready` wait for every shard to adopt the bucket's chunks.
    pub fn with_object_store(mut self, adoption: Arc<crate::tiering::Adoption>) -> Self {
        self.adoption = Some(adoption);
        self
    }

    /// The first shard whose adoption marker this node has not applied yet.
    fn shard_still_adopting(&self) -> Option<u32> {
        self.adoption.as_ref()?.first_pending(&self.raft)
    }

    /// Groups the request's streams by shard, as commands.
    pub fn split(&self, tenant: &TenantId, req: &PushRequest) -> BTreeMap<u32, ShardCommand> {
        let shards = self.raft.shard_count();
        let unordered_writes = self.limits.limits_for(tenant.as_str()).unordered_writes;
        let mut parts: BTreeMap<u32, Push> = BTreeMap::new();
        for stream in &req.streams {
            if stream.entries.is_empty() {
                continue;
            }
            let shard = shard_of(tenant.as_str(), &stream.labels, shards);
            parts
                .entry(shard)
                .or_insert_with(|| Push {
                    tenant: tenant.to_string(),
                    streams: Vec::new(),
                    out_of_order_window_ns: self.out_of_order_window_ns,
                    unordered_writes,
                })
                .streams
                .push(StreamEntries::from(stream));
        }
        parts.into_iter().map(|(shard, push)| (shard, ShardCommand::push(push))).collect()
    }
}

/// Bugs planted on purpose, so the fault-injection harness (jepsen/) can show
/// that its checker catches them. Read from `BALSA_FAILPOINTS` (a comma list)
/// by debug builds only; a release build never plants anything.
#[derive(Clone, Copy, Debug, Default)]
struct Failpoints {
    /// Acknowledge a push at once and propose it 300 ms later: a crash or a
    /// partition in between loses an acknowledged line.
    ack_before_quorum: bool,
    /// Serve reads from the local replica without a read-index barrier: a
    /// cut-off node answers with stale data.
    skip_read_barrier: bool,
}

impl Failpoints {
    fn from_env() -> Self {
        let mut planted = Self::default();
        if !cfg!(debug_assertions) {
            return planted;
        }
        let spec = std::env::var("BALSA_FAILPOINTS").unwrap_or_default();
        for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "ack-before-quorum" => planted.ack_before_quorum = true,
                "skip-read-barrier" => planted.skip_read_barrier = true,
                other => tracing::warn!(failpoint = other, "unknown failpoint ignored"),
            }
            tracing::warn!(failpoint = name, "planted bug active: this node is deliberately unsafe");
        }
        planted
    }
}

fn backend_error(e: ProposeError) -> BackendError {
    match e {
        ProposeError::Unavailable { .. } | ProposeError::NotLeader { .. } => BackendError::Unavailable(e.to_string()),
        ProposeError::Fatal { .. } | ProposeError::NoSuchShard(_) => BackendError::Internal(e.to_string()),
    }
}

impl Backend for Distributor {
    fn tail(&self) -> Option<tokio::sync::broadcast::Receiver<Arc<balsa_model::AppliedPush>>> {
        Some(self.raft.subscribe_applied())
    }

    fn push(&self, tenant: TenantId, req: PushRequest) -> BoxFuture<'_, Result<PushOutcome, BackendError>> {
        Box::pin(async move {
            let parts = self.split(&tenant, &req);
            if self.failpoints.ack_before_quorum {
                let raft = Arc::clone(&self.raft);
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    for (shard, cmd) in &parts {
                        let _ = raft.propose(*shard, cmd).await;
                    }
                });
                return Ok(PushOutcome::default());
            }
            let results = join_all(parts.iter().map(|(shard, cmd)| self.raft.propose(*shard, cmd))).await;
            let mut outcome = PushOutcome::default();
            for r in results {
                let applied = r.map_err(backend_error)?;
                outcome.rejected.extend(applied.rejected);
            }
            Ok(outcome)
        })
    }

    fn readers(&self) -> BoxFuture<'_, Result<Vec<Arc<dyn StreamReader>>, BackendError>> {
        Box::pin(async move {
            let shards = self.raft.shard_count();
            if !self.failpoints.skip_read_barrier {
                let barriers = join_all((0..shards).map(|s| self.raft.read_barrier(s))).await;
                for b in barriers {
                    b.map_err(backend_error)?;
                }
            }
            if let Some(shard) = self.shard_still_adopting() {
                return Err(BackendError::Unavailable(format!(
                    "shard {shard} has not adopted the object store's chunks yet (recovery in progress); retry shortly"
                )));
            }
            // Lines of delete requests that are not processed yet are hidden
            // already, as in Loki.
            let pending = crate::deletion::pending(&self.raft).await.map_err(BackendError::Internal)?;
            let readers = (0..shards).filter_map(|s| self.raft.reader(s));
            Ok(match pending {
                None => readers.map(|r| Arc::new(r) as Arc<dyn StreamReader>).collect(),
                Some(pending) => readers
                    .map(|r| Arc::new(DeleteFiltered::new(r, Arc::clone(&pending))) as Arc<dyn StreamReader>)
                    .collect(),
            })
        })
    }

    fn add_delete_request(
        &self,
        tenant: TenantId,
        query: String,
        start_ns: i64,
        end_ns: i64,
    ) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            let created_ms = crate::deletion::wall_clock_ms();
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for part in [tenant.as_str(), query.as_str()] {
                h.update(part.as_bytes());
                h.update(&[0]);
            }
            h.update(&start_ns.to_be_bytes());
            h.update(&end_ns.to_be_bytes());
            h.update(&crate::deletion::wall_clock_ns().to_be_bytes());
            let request_id = format!("{:08x}", h.digest() as u32);
            let request = DeleteRequest {
                tenant: tenant.to_string(),
                request_id: request_id.clone(),
                query,
                start_ns,
                end_ns,
                created_ms,
                processed: false,
            };
            let cmd = ShardCommand::delete_request(DeleteRequestOp::Add, request);
            self.raft.propose(crate::deletion::REQUESTS_SHARD, &cmd).await.map_err(backend_error)?;
            Ok(request_id)
        })
    }

    fn delete_requests(&self, tenant: TenantId) -> BoxFuture<'_, Result<Vec<DeleteRequestInfo>, BackendError>> {
        Box::pin(async move {
            let all = crate::deletion::requests(&self.raft).await.map_err(BackendError::Internal)?;
            Ok(all
                .into_iter()
                .filter(|r| r.tenant == tenant.as_str())
                .map(|r| DeleteRequestInfo {
                    request_id: r.request_id,
                    query: r.query,
                    start_ns: r.start_ns,
                    end_ns: r.end_ns,
                    created_ms: r.created_ms,
                    processed: r.processed,
                })
                .collect())
        })
    }

    fn cancel_delete_request(
        &self,
        tenant: TenantId,
        request_id: String,
    ) -> BoxFuture<'_, Result<Result<(), CancelRefused>, BackendError>> {
        Box::pin(async move {
            let request = DeleteRequest { tenant: tenant.to_string(), request_id, ..Default::default() };
            let cmd = ShardCommand::delete_request(DeleteRequestOp::Cancel, request);
            let outcome = self.raft.propose(crate::deletion::REQUESTS_SHARD, &cmd).await.map_err(backend_error)?;
            Ok(match outcome.rejected.first() {
                None if outcome.accepted > 0 => Ok(()),
                Some(m) if m.contains("already processed") => Err(CancelRefused::AlreadyProcessed),
                _ => Err(CancelRefused::NotFound),
            })
        })
    }

    fn ready(&self) -> Result<(), String> {
        if self.raft.ready() {
            match self.shard_still_adopting() {
                None => Ok(()),
                Some(shard) => Err(format!("shard {shard} is still adopting the object store's chunks")),
            }
        } else {
            let waiting = self.raft.status().iter().filter(|g| g.leader.is_none()).count();
            if waiting > 0 {
                return Err(format!("{waiting} of {} shard groups have no leader yet", self.raft.shard_count()));
            }
            let behind = self.raft.catching_up();
            Err(format!(
                "catching up: {} of {} shard groups have not applied what their leader committed",
                behind.len(),
                self.raft.shard_count()
            ))
        }
    }
}
