//! The Raft log of one shard inside the node's RocksDB.
//!
//! Appends are written without sync and acknowledged to openraft through the
//! node's flusher once `flush_wal(true)` covers them (group commit). Votes
//! are durable before `save_vote` returns.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};

use crate::codec;
use crate::db::{CF_LOG, CF_RAFT_META, Db};
use crate::rocks::{blocking, io_err, meta_key};
use crate::types::{Entry, LogId, TypeConfig, Vote};

const VOTE: u8 = 1;
const COMMITTED: u8 = 2;
const LAST_PURGED: u8 = 3;

fn log_key(shard: u32, index: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&shard.to_be_bytes());
    k[4..].copy_from_slice(&index.to_be_bytes());
    k
}

#[derive(Clone, Debug)]
pub struct LogStore {
    shard: u32,
    db: Arc<Db>,
}

impl LogStore {
    pub fn new(shard: u32, db: Arc<Db>) -> Self {
        Self { shard, db }
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, tag: u8) -> io::Result<Option<T>> {
        let raw = self
            .db
            .raw()
            .get_cf(self.db.cf(CF_RAFT_META), meta_key(self.shard, tag))
            .map_err(io_err("read raft meta"))?;
        raw.map(|b| codec::decode(&b)).transpose()
    }

    fn put_meta<T: serde::Serialize>(&self, tag: u8, v: &T) -> io::Result<()> {
        let bytes = codec::encode(v)?;
        self.db
            .raw()
            .put_cf(self.db.cf(CF_RAFT_META), meta_key(self.shard, tag), bytes)
            .map_err(io_err("write raft meta"))
    }

    fn read_range(&self, start: u64, end: u64) -> io::Result<Vec<Entry>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_lower_bound(log_key(self.shard, start).to_vec());
        ro.set_iterate_upper_bound(log_key(self.shard, end).to_vec());
        let mut it = self.db.raw().raw_iterator_cf_opt(self.db.cf(CF_LOG), ro);
        it.seek_to_first();
        let mut out = Vec::new();
        while it.valid() {
            let Some(v) = it.value() else { break };
            out.push(codec::decode::<Entry>(v)?);
            it.next();
        }
        it.status().map_err(io_err("read log"))?;
        Ok(out)
    }

    fn last_entry(&self) -> io::Result<Option<Entry>> {
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_lower_bound(log_key(self.shard, 0).to_vec());
        ro.set_iterate_upper_bound(log_key(self.shard, u64::MAX).to_vec());
        let mut it = self.db.raw().raw_iterator_cf_opt(self.db.cf(CF_LOG), ro);
        it.seek_to_last();
        let last = match it.value() {
            Some(v) => Some(codec::decode::<Entry>(v)?),
            None => None,
        };
        it.status().map_err(io_err("read last log"))?;
        Ok(last)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(x) => x.saturating_add(1),
            Bound::Excluded(x) => *x,
            Bound::Unbounded => u64::MAX,
        };
        let this = self.clone();
        blocking(move || this.read_range(start, end)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let this = self.clone();
        blocking(move || {
            let last_purged_log_id: Option<LogId> = this.get_meta(LAST_PURGED)?;
            let last_log_id = match this.last_entry()? {
                Some(e) => Some(e.log_id),
                None => last_purged_log_id,
            };
            Ok(LogState { last_purged_log_id, last_log_id })
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.put_meta(VOTE, vote)?;
        self.db.durable().await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Advisory: lets a restarted node re-apply up to here before serving.
        // It becomes durable with the next group flush.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut wb = rocksdb::WriteBatch::default();
        let cf = self.db.cf(CF_LOG);
        let mut bytes = 0usize;
        for entry in entries {
            let value = codec::encode(&entry)?;
            bytes += value.len();
            wb.put_cf(cf, log_key(self.shard, entry.log_id.index), value);
        }
        let db = Arc::clone(&self.db);
        // Entries must be readable when append returns; durability follows.
        blocking(move || db.raw().write(wb).map_err(io_err("append log"))).await?;
        metrics::counter!("balsa_raft_log_appended_bytes_total").increment(bytes as u64);
        self.db.after_durable(move |r| callback.io_completed(r));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |l| l.index + 1);
        let db = Arc::clone(&self.db);
        let shard = self.shard;
        blocking(move || {
            db.raw()
                .delete_range_cf(db.cf(CF_LOG), log_key(shard, from), log_key(shard, u64::MAX))
                .map_err(io_err("truncate log"))
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.put_meta(LAST_PURGED, &log_id)?;
        let db = Arc::clone(&self.db);
        let shard = self.shard;
        let upto = log_id.index.saturating_add(1);
        blocking(move || {
            db.raw()
                .delete_range_cf(db.cf(CF_LOG), log_key(shard, 0), log_key(shard, upto))
                .map_err(io_err("purge log"))
        })
        .await
    }
}
