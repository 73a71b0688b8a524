//! Moving sealed chunks to S3. Each node uploads the pending chunks of the
//! groups it leads, then proposes `ChunkUploaded` so that every replica
//! records the object key and drops its local bytes (the protocol is in
//! `balsa_storage::tier`). Uploads never block ingestion: a failing store
//! only lets pending chunks accumulate, with a metric and a warning.

use std::sync::Arc;
use std::time::Duration;

use balsa_raft::RaftNode;
use balsa_storage::ShardCommand;
use balsa_storage::tier::{self, ObjectInfo, ObjectStore};

/// Chunks looked at per shard and round (packed into objects together).
const BATCH: usize = 256;
/// Bytes fetched to read an object's header; more when it is longer.
const HEADER_GUESS: u64 = 16 * 1024;
/// Longest pause between rounds after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct Uploader {
    pub raft: Arc<RaftNode>,
    pub store: Arc<dyn ObjectStore>,
    pub prefix: String,
    /// Small chunks of a tenant share objects of about this many bytes.
    pub target_object_size: u64,
    pub interval: Duration,
    pub max_pending: u64,
    /// How often unreferenced objects are looked for.
    pub sweep_interval: Duration,
    /// Objects younger than this are never swept: an upload whose Raft
    /// entry is still on its way must not lose its object.
    pub orphan_grace: Duration,
    /// Whether this node has applied every shard's adoption marker (shared
    /// with the distributor, which holds queries and `/ready` until then).
    pub adoption: Arc<Adoption>,
}

/// Whether every shard's adoption marker (the bucket's chunks taken in
/// once, for a recovery from the bucket) is applied on this node. Read from
/// the state machine until it is; latched from then on.
#[derive(Debug, Default)]
pub struct Adoption {
    done: std::sync::atomic::AtomicBool,
}

impl Adoption {
    /// The first shard whose marker this node has not applied yet.
    pub fn first_pending(&self, raft: &RaftNode) -> Option<u32> {
        use std::sync::atomic::Ordering;
        if self.done.load(Ordering::Acquire) {
            return None;
        }
        let kv = raft.db().sm_kv();
        // One point read per shard, and only until all are done.
        let pending = (0..raft.shard_count()).find(|&s| !tier::adopted(&kv, s).unwrap_or(false));
        if pending.is_none() {
            self.done.store(true, Ordering::Release);
        }
        pending
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub uploaded: usize,
    pub adopted: usize,
    pub swept: usize,
    pub failed: bool,
}

/// The pause between rounds while some shard has not adopted the bucket yet.
const ADOPTION_POLL: Duration = Duration::from_millis(200);

impl Uploader {
    /// Runs rounds forever, backing off while the store fails.
    pub async fn run(self) {
        // The first round runs at once: until each shard has adopted the
        // bucket's chunks, the node is not ready.
        let mut pause = Duration::ZERO;
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(pause).await;
            let sweep = last_sweep.elapsed() >= self.sweep_interval;
            if sweep {
                last_sweep = tokio::time::Instant::now();
            }
            let round = self.round(sweep).await;
            if round.adopted > 0 || round.swept > 0 {
                tracing::info!(adopted = round.adopted, swept = round.swept, "object store reconciled");
            }
            pause = if round.failed {
                (pause.max(self.interval) * 2).min(MAX_BACKOFF)
            } else if self.adoption.first_pending(&self.raft).is_some() {
                ADOPTION_POLL.min(self.interval)
            } else {
                self.interval
            };
            self.report_pending().await;
        }
    }

    /// One pass over the shards this node leads: adopt what the bucket holds
    /// (once per shard, for a cluster started on empty disks), upload what is
    /// pending and, when `sweep`, delete objects no chunk refers to.
    pub async fn round(&self, sweep: bool) -> Round {
        let mut round = Round::default();
        let mut listing: Option<Vec<ObjectInfo>> = None;
        for shard in 0..self.raft.shard_count() {
            if !self.raft.is_leader(shard) {
                continue;
            }
            let result = async {
                let kv = self.raft.db().sm_kv();
                if !blocking(move || tier::adopted(&kv, shard)).await? {
                    round.adopted += self.adopt_shard(shard, &mut listing).await?;
                }
                round.uploaded += self.upload_shard(shard).await?;
                if sweep {
                    round.swept += self.sweep_shard(shard, &mut listing).await?;
                }
                Ok::<_, String>(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(shard, error = %e, "object store round failed; will retry");
                round.failed = true;
                // The store is likely down for every shard: try again later.
                break;
            }
        }
        round
    }

    /// Every chunk object in the bucket, listed at most once per round.
    async fn objects<'l>(&self, listing: &'l mut Option<Vec<ObjectInfo>>) -> Result<&'l [ObjectInfo], String> {
        if listing.is_none() {
            let prefix = format!("{}chunks/", self.prefix);
            *listing = Some(self.store.list(&prefix).await.map_err(|e| e.to_string())?);
        }
        Ok(listing.as_deref().expect("listed above"))
    }

    /// Every object key a chunk refers to, over all shards of this node (an
    /// object can hold chunks of several shards after a recovery with a
    /// different shard count).
    async fn referenced_everywhere(&self) -> Result<std::collections::HashSet<String>, String> {
        let kv = self.raft.db().sm_kv();
        let shards = self.raft.shard_count();
        blocking(move || {
            let mut all = std::collections::HashSet::new();
            for shard in 0..shards {
                all.extend(tier::referenced_objects(&kv, shard)?);
            }
            Ok(all)
        })
        .await
    }

    /// Whether `shard` looks after the object (the shard of its first chunk).
    fn in_shard(&self, key: &str, shard: u32) -> bool {
        tier::parse_object_key(&self.prefix, key)
            .is_some_and(|(_, stream)| stream % u64::from(self.raft.shard_count()) == u64::from(shard))
    }

    async fn adopt_shard(&self, shard: u32, listing: &mut Option<Vec<ObjectInfo>>) -> Result<usize, String> {
        let known = self.referenced_everywhere().await?;
        let tombstones: std::collections::HashSet<tier::Tombstone> = self
            .store
            .list(&format!("{}tombstones/", self.prefix))
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .filter_map(|o| tier::parse_tombstone_key(&self.prefix, &o.key))
            .collect();
        let keys: Vec<String> = self
            .objects(listing)
            .await?
            .iter()
            .filter(|o| self.in_shard(&o.key, shard) && !known.contains(&o.key))
            .map(|o| o.key.clone())
            .collect();
        let mut adopted = 0;
        for key in keys {
            let mut head = self.store.get_range(&key, 0, HEADER_GUESS).await.map_err(|e| e.to_string())?;
            let end = match tier::header_end(&head) {
                Ok(end) => end,
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "not adopting an object that is not a balsa chunk");
                    continue;
                }
            };
            if end > head.len() {
                head = self.store.get_range(&key, 0, end as u64).await.map_err(|e| e.to_string())?;
            }
            match tier::adopt_commands(&key, &head, &tombstones) {
                Ok(cmds) => {
                    for (stream, cmd) in cmds {
                        // Each chunk goes to its own stream's shard (the
                        // shard count may differ from the one that wrote it).
                        let owner = (stream % u64::from(self.raft.shard_count())) as u32;
                        self.raft.propose(owner, &cmd).await.map_err(|e| format!("adopt {key}: {e}"))?;
                        adopted += 1;
                    }
                }
                Err(e) => tracing::warn!(key = %key, error = %e, "not adopting an unreadable chunk object"),
            }
        }
        self.raft.propose(shard, &ShardCommand::adoption_done()).await.map_err(|e| format!("adoption done: {e}"))?;
        metrics::counter!("balsa_tier_adopted_chunks_total").increment(adopted as u64);
        Ok(adopted)
    }

    async fn sweep_shard(&self, shard: u32, listing: &mut Option<Vec<ObjectInfo>>) -> Result<usize, String> {
        // Referenced keys are read after the listing, so an object uploaded
        // and recorded meanwhile is either absent from the listing or known.
        let candidates: Vec<ObjectInfo> =
            self.objects(listing).await?.iter().filter(|o| self.in_shard(&o.key, shard)).cloned().collect();
        let known = self.referenced_everywhere().await?;
        let now_ms = crate::deletion::wall_clock_ms();
        let grace_ms = self.orphan_grace.as_millis() as i64;
        let mut swept = 0;
        for o in candidates {
            if known.contains(&o.key) || now_ms.saturating_sub(o.modified_ms) < grace_ms {
                continue;
            }
            self.store.delete(&o.key).await.map_err(|e| e.to_string())?;
            tracing::info!(key = %o.key, "deleted an object no chunk refers to");
            swept += 1;
        }
        metrics::counter!("balsa_tier_swept_objects_total").increment(swept as u64);
        Ok(swept)
    }

    async fn upload_shard(&self, shard: u32) -> Result<usize, String> {
        let kv = self.raft.db().sm_kv();
        let (prefix, target) = (self.prefix.clone(), self.target_object_size);
        let objects = blocking(move || {
            let pending = tier::pending_uploads(&kv, shard, BATCH)?;
            tier::pack_objects(&kv, shard, &prefix, &pending, target)
        })
        .await?;
        let mut uploaded = 0;
        for object in objects {
            self.store.put(&object.key, object.bytes.clone()).await.map_err(|e| e.to_string())?;
            // Losing leadership here leaves an object that the new leader
            // uploads again under the same key (or an orphan for the sweep).
            for cmd in object.uploaded_commands() {
                self.raft.propose(shard, &cmd).await.map_err(|e| format!("record upload: {e}"))?;
                uploaded += 1;
            }
            metrics::counter!("balsa_tier_uploaded_objects_total").increment(1);
            metrics::counter!("balsa_tier_uploaded_chunks_total").increment(object.chunks.len() as u64);
        }
        Ok(uploaded)
    }

    async fn report_pending(&self) {
        let raft = Arc::clone(&self.raft);
        let counted = tokio::task::spawn_blocking(move || {
            let kv = raft.db().sm_kv();
            (0..raft.shard_count()).try_fold(0u64, |n, shard| tier::count_pending(&kv, shard).map(|c| n + c))
        })
        .await;
        if let Ok(Ok(pending)) = counted {
            metrics::gauge!("balsa_tier_pending_chunks").set(pending as f64);
            if pending > self.max_pending {
                tracing::warn!(
                    pending,
                    limit = self.max_pending,
                    "sealed chunks are piling up locally because uploads to s3 fail or lag"
                );
            }
        }
    }
}

/// Runs a RocksDB read off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, balsa_storage::StorageError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
}

/// Connects to the configured bucket, creating it if needed; the error says
/// what to fix.
pub async fn connect(config: &balsa_s3::AwsConfig) -> Result<Arc<balsa_s3::S3Store>, balsa_s3::S3Error> {
    let store = balsa_s3::S3Store::new(config).await;
    store.ensure_bucket().await?;
    Ok(Arc::new(store))
}
