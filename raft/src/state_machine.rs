//! The state machine of one shard: decodes commands, lets `balsa_storage`
//! compute the writes, and persists them in one RocksDB write batch together
//! with the applied log id, so data and progress can never disagree.
//!
//! Snapshots are the shard's key range of the `sm` column family, read from a
//! RocksDB snapshot and written to a file of length-delimited records.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use balsa_model::{AppliedPush, StreamPush};
use balsa_storage::command::shard_command::Kind;
use balsa_storage::{ApplyOutcome, Shard, ShardCommand, keys};
use futures::StreamExt;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use prost::Message;

use crate::codec;
use crate::db::{CF_SM, CF_SM_META, Db};
use crate::rocks::{blocking, io_err, meta_key};
use crate::types::{LogId, SnapshotMeta, StoredMembership, TypeConfig};

const APPLIED: u8 = 1;
const MEMBERSHIP: u8 = 2;
const SNAPSHOT: u8 = 3;

fn storage_io(e: balsa_storage::StorageError) -> io::Error {
    io::Error::other(e.to_string())
}

/// A shard snapshot.
///
/// Building one is cheap: the state machine's data is already persistent and
/// written atomically with its applied log id, so a snapshot of this node's
/// own state is just its metadata plus a [`LocalSnapshot`] handle. Bytes are
/// produced only when a follower needs them ([`LocalSnapshot::materialize`]),
/// and a snapshot received from a leader arrives as a file.
#[derive(Debug)]
pub enum ShardSnapshot {
    Local(LocalSnapshot),
    File(PathBuf),
}

/// This node's replica of a shard, to be written out on demand.
#[derive(Debug, Clone)]
pub struct LocalSnapshot {
    shard: u32,
    db: Arc<Db>,
    dir: PathBuf,
}

/// One key-value pair of a snapshot file.
#[derive(Clone, PartialEq, prost::Message)]
struct SnapshotRecord {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// The metadata of the last snapshot built (persisted in `sm_meta`).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
}

pub struct StateMachine {
    shard: u32,
    db: Arc<Db>,
    storage: Arc<Shard>,
    snapshot_dir: PathBuf,
    applied: Option<LogId>,
    membership: StoredMembership,
    /// Where applied pushes are published for live tails.
    published: AppliedSender,
}

/// The channel applied pushes are published on (see [`StateMachine::publish_to`]).
pub type AppliedSender = tokio::sync::broadcast::Sender<Arc<AppliedPush>>;

/// The pushes among `commands`, as the live tail sees them.
fn applied_pushes(commands: &[Option<ShardCommand>]) -> Vec<Arc<AppliedPush>> {
    commands
        .iter()
        .flatten()
        .filter_map(|c| match &c.kind {
            Some(Kind::Push(p)) => Some(Arc::new(AppliedPush {
                tenant: p.tenant.clone(),
                streams: p
                    .streams
                    .iter()
                    .map(|s| StreamPush {
                        labels: s.labels(),
                        entries: s.entries.iter().map(|e| e.to_entry()).collect(),
                    })
                    .collect(),
            })),
            _ => None,
        })
        .collect()
}

impl StateMachine {
    pub fn open(shard: u32, db: Arc<Db>, storage: Arc<Shard>, snapshot_dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&snapshot_dir)?;
        remove_leftover_files(&snapshot_dir);
        let meta = db.cf(CF_SM_META);
        let applied = match db.raw().get_cf(meta, meta_key(shard, APPLIED)).map_err(io_err("read applied"))? {
            Some(b) => codec::decode(&b)?,
            None => None,
        };
        let membership = match db.raw().get_cf(meta, meta_key(shard, MEMBERSHIP)).map_err(io_err("read membership"))? {
            Some(b) => codec::decode(&b)?,
            None => StoredMembership::default(),
        };
        let published = tokio::sync::broadcast::channel(1).0;
        Ok(Self { shard, db, storage, snapshot_dir, applied, membership, published })
    }

    /// Publishes every push applied from now on to `tx` (new applies only:
    /// what a restart finds already applied in RocksDB is never re-applied).
    /// Sending never waits: a tail that falls behind sees `Lagged`.
    pub fn publish_to(mut self, tx: AppliedSender) -> Self {
        self.published = tx;
        self
    }

    fn apply_batch(
        shard: u32,
        db: &Arc<Db>,
        storage: &Shard,
        commands: Vec<Option<ShardCommand>>,
        applied: Option<LogId>,
        membership: Option<StoredMembership>,
    ) -> io::Result<Vec<ApplyOutcome>> {
        let kv = db.sm_kv();
        let present: Vec<ShardCommand> = commands.iter().flatten().cloned().collect();
        let mut pending = storage.apply(&kv, &present).map_err(storage_io)?;
        let mut wb = rocksdb::WriteBatch::default();
        kv.fill(&mut wb, std::mem::take(&mut pending.batch));
        let meta = db.cf(CF_SM_META);
        wb.put_cf(meta, meta_key(shard, APPLIED), codec::encode(&applied)?);
        if let Some(m) = &membership {
            wb.put_cf(meta, meta_key(shard, MEMBERSHIP), codec::encode(m)?);
        }
        db.raw().write(wb).map_err(io_err("apply"))?;
        let mut outcomes = storage.commit(pending).into_iter();
        Ok(commands
            .iter()
            .map(|c| if c.is_some() { outcomes.next().unwrap_or_default() } else { ApplyOutcome::default() })
            .collect())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = ShardSnapshot;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut responders = Vec::new();
        let mut commands = Vec::new();
        let mut last = None;
        let mut membership = None;
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            last = Some(entry.log_id);
            match &entry.payload {
                EntryPayload::Normal(cmd) => {
                    let decoded = ShardCommand::decode(cmd.0.as_slice())
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("decode command: {e}")))?;
                    commands.push(Some(decoded));
                }
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                    commands.push(None);
                }
                EntryPayload::Blank => commands.push(None),
            }
            responders.push(responder);
        }
        if last.is_none() {
            return Ok(());
        }
        let (shard, db, storage) = (self.shard, Arc::clone(&self.db), Arc::clone(&self.storage));
        let m = membership.clone();
        // Built only when someone tails.
        let pushes = if self.published.receiver_count() > 0 { applied_pushes(&commands) } else { Vec::new() };
        let outcomes = blocking(move || Self::apply_batch(shard, &db, &storage, commands, last, m)).await?;
        self.applied = last;
        if let Some(m) = membership {
            self.membership = m;
        }
        for p in pushes {
            let _ = self.published.send(p);
        }
        for (responder, outcome) in responders.into_iter().zip(outcomes) {
            if let Some(r) = responder {
                r.send(outcome);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { shard: self.shard, db: Arc::clone(&self.db), dir: self.snapshot_dir.clone() }
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: ShardSnapshot) -> Result<(), io::Error> {
        let (shard, db, storage) = (self.shard, Arc::clone(&self.db), Arc::clone(&self.storage));
        let meta_owned = meta.clone();
        let installed = blocking(move || {
            let (meta, path) = match snapshot {
                ShardSnapshot::File(path) => (meta_owned, path),
                // Our own data: written out first, with the meta it really has.
                ShardSnapshot::Local(local) => local.materialize()?,
            };
            let mut wb = rocksdb::WriteBatch::default();
            let sm = db.cf(CF_SM);
            wb.delete_range_cf(sm, keys::shard_prefix(shard), keys::shard_end(shard));
            let mut reader = BufReader::new(std::fs::File::open(&path)?);
            for_each_record(&mut reader, |rec| {
                wb.put_cf(sm, rec.key, rec.value);
                Ok(())
            })?;
            let smm = db.cf(CF_SM_META);
            wb.put_cf(smm, meta_key(shard, APPLIED), codec::encode(&meta.last_log_id)?);
            wb.put_cf(smm, meta_key(shard, MEMBERSHIP), codec::encode(&meta.last_membership)?);
            wb.put_cf(smm, meta_key(shard, SNAPSHOT), codec::encode(&StoredSnapshot { meta: meta.clone() })?);
            db.raw().write(wb).map_err(io_err("install snapshot"))?;
            let _ = std::fs::remove_file(&path);
            storage.reload(&db.sm_kv()).map_err(storage_io)?;
            Ok(meta)
        })
        .await?;
        self.applied = installed.last_log_id;
        self.membership = installed.last_membership.clone();
        tracing::info!(shard = self.shard, last_log_id = ?installed.last_log_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<openraft::type_config::alias::SnapshotOf<TypeConfig, ShardSnapshot>>, io::Error> {
        let raw = self
            .db
            .raw()
            .get_cf(self.db.cf(CF_SM_META), meta_key(self.shard, SNAPSHOT))
            .map_err(io_err("read snapshot meta"))?;
        let Some(raw) = raw else { return Ok(None) };
        let stored: StoredSnapshot = codec::decode(&raw)?;
        let local = LocalSnapshot { shard: self.shard, db: Arc::clone(&self.db), dir: self.snapshot_dir.clone() };
        Ok(Some(openraft::Snapshot { meta: stored.meta, snapshot: ShardSnapshot::Local(local) }))
    }
}

fn snapshot_name(meta: &SnapshotMeta) -> String {
    match &meta.last_log_id {
        Some(l) => format!("{}-{}.snap", l.leader_id, l.index).replace(['/', ' ', ':'], "_"),
        None => "empty.snap".to_string(),
    }
}

/// Removes snapshot files left by a previous run (written out for sending,
/// or half received): nothing refers to them after a restart.
fn remove_leftover_files(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn for_each_record(r: &mut impl Read, mut f: impl FnMut(SnapshotRecord) -> io::Result<()>) -> io::Result<()> {
    let mut len_buf = [0u8; 4];
    loop {
        match r.read_exact(&mut len_buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes(len_buf) as usize;
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf)?;
        let rec = SnapshotRecord::decode(buf.as_slice())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot record: {e}")))?;
        f(rec)?;
    }
}

pub struct SnapshotBuilder {
    shard: u32,
    db: Arc<Db>,
    dir: PathBuf,
}

/// Reads the applied log id and membership as of a RocksDB snapshot.
fn applied_at(
    db: &Db,
    snap: &rocksdb::SnapshotWithThreadMode<'_, rocksdb::DB>,
    shard: u32,
) -> io::Result<SnapshotMeta> {
    let smm = db.cf(CF_SM_META);
    let applied: Option<LogId> = match snap.get_cf(smm, meta_key(shard, APPLIED)).map_err(io_err("read applied"))? {
        Some(b) => codec::decode(&b)?,
        None => None,
    };
    let membership: StoredMembership =
        match snap.get_cf(smm, meta_key(shard, MEMBERSHIP)).map_err(io_err("read membership"))? {
            Some(b) => codec::decode(&b)?,
            None => StoredMembership::default(),
        };
    Ok(SnapshotMeta { last_log_id: applied, last_membership: membership })
}

impl LocalSnapshot {
    /// Writes the shard's data to a file of length-delimited records, from one
    /// RocksDB snapshot, and returns the metadata that data corresponds to (at
    /// or after the one this snapshot was announced with).
    pub fn materialize(&self) -> io::Result<(SnapshotMeta, PathBuf)> {
        let (shard, db, dir) = (self.shard, &self.db, &self.dir);
        std::fs::create_dir_all(dir)?;
        let snap = db.raw().snapshot();
        let meta = applied_at(db, &snap, shard)?;
        // Unique: several followers may need this shard at once.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{}.{}-{seq}.out", snapshot_name(&meta), std::process::id()));
        let tmp = path.with_extension("tmp");
        let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_lower_bound(keys::shard_prefix(shard));
        ro.set_iterate_upper_bound(keys::shard_end(shard));
        let mut it = snap.raw_iterator_cf_opt(db.cf(CF_SM), ro);
        it.seek_to_first();
        let mut buf = Vec::new();
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            buf.clear();
            SnapshotRecord { key: k.to_vec(), value: v.to_vec() }.encode(&mut buf).map_err(io::Error::other)?;
            out.write_all(&(buf.len() as u32).to_be_bytes())?;
            out.write_all(&buf)?;
            it.next();
        }
        it.status().map_err(io_err("snapshot scan"))?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        tracing::info!(shard, last_log_id = ?meta.last_log_id, path = %path.display(), "materialized snapshot");
        Ok((meta, path))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = ShardSnapshot;

    /// Records where the state machine is: its data is already durable, so
    /// no bytes are copied (see [`ShardSnapshot`]).
    async fn build_snapshot(
        &mut self,
    ) -> Result<openraft::type_config::alias::SnapshotOf<TypeConfig, ShardSnapshot>, io::Error> {
        let (shard, db, dir) = (self.shard, Arc::clone(&self.db), self.dir.clone());
        blocking(move || {
            let meta = {
                let snap = db.raw().snapshot();
                applied_at(&db, &snap, shard)?
            };
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            db.raw()
                .put_cf_opt(
                    db.cf(CF_SM_META),
                    meta_key(shard, SNAPSHOT),
                    codec::encode(&StoredSnapshot { meta: meta.clone() })?,
                    &wo,
                )
                .map_err(io_err("write snapshot meta"))?;
            tracing::debug!(shard, last_log_id = ?meta.last_log_id, "built snapshot");
            Ok(openraft::Snapshot { meta, snapshot: ShardSnapshot::Local(LocalSnapshot { shard, db, dir }) })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use balsa_model::{Entry, LabelPair, Labels};
    use balsa_storage::Push;
    use balsa_storage::command::StreamEntries;

    use super::*;

    #[test]
    fn only_pushes_are_published_with_their_metadata() {
        let mut e = Entry::new(7, "hello");
        e.structured_metadata = vec![LabelPair { name: "trace_id".into(), value: "t1".into() }];
        let stream = StreamPush { labels: Labels::from_pairs([("job", "tail")]), entries: vec![e] };
        let push = ShardCommand::push(Push {
            tenant: "acme".into(),
            streams: vec![StreamEntries::from(&stream)],
            ..Default::default()
        });
        let commands = vec![None, Some(ShardCommand::tick(5)), Some(push)];
        let got = applied_pushes(&commands);
        assert_eq!(got.len(), 1);
        assert_eq!(*got[0], AppliedPush { tenant: "acme".into(), streams: vec![stream] });
    }
}
