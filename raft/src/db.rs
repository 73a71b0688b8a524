//! The node's single RocksDB: column families by kind, keys prefixed by the
//! shard id, and one flusher thread that makes writes durable for every group
//! at once (group commit: one `flush_wal(sync)` per batch of waiters).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use balsa_storage::StorageError;
use balsa_storage::kv::{KvRead, KvWrite, Op, WriteBatch};
use rocksdb::{ColumnFamilyDescriptor, DB, DBCompressionType, Options};

use crate::error::RaftError;

/// Raft log entries: `shard | index` → bincode(Entry).
pub const CF_LOG: &str = "raft_log";
/// Per-shard Raft metadata: `shard | tag` (vote, committed, last purged).
pub const CF_RAFT_META: &str = "raft_meta";
/// State-machine data, laid out by `balsa_storage::keys`.
pub const CF_SM: &str = "sm";
/// Per-shard state-machine metadata: `shard | tag` (applied, membership, snapshot).
pub const CF_SM_META: &str = "sm_meta";
/// Node-wide metadata: shard count, node id.
pub const CF_NODE: &str = "node";

const ALL_CFS: [&str; 5] = [CF_LOG, CF_RAFT_META, CF_SM, CF_SM_META, CF_NODE];

type Waiter = Box<dyn FnOnce(std::io::Result<()>) + Send>;

pub struct Db {
    db: Arc<DB>,
    path: PathBuf,
    flusher: std::sync::Mutex<Option<mpsc::Sender<Waiter>>>,
    flusher_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    pub fn open(path: &Path) -> Result<Arc<Self>, RaftError> {
        std::fs::create_dir_all(path)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(4);
        // Small column families would otherwise keep every WAL file alive
        // until the ~3 GB default forces their flush.
        opts.set_max_total_wal_size(256 << 20);
        let cfs = ALL_CFS.iter().map(|name| {
            let mut cf = Options::default();
            // Sealed chunks are snappy already; logs and heads compress well.
            cf.set_compression_type(if *name == CF_SM { DBCompressionType::None } else { DBCompressionType::Lz4 });
            ColumnFamilyDescriptor::new(*name, cf)
        });
        let db = Arc::new(DB::open_cf_descriptors(&opts, path, cfs).map_err(RaftError::rocks("open"))?);
        let (tx, rx) = mpsc::channel::<Waiter>();
        let flush_db = Arc::clone(&db);
        let thread =
            std::thread::Builder::new().name("balsa-wal-flush".into()).spawn(move || flusher_loop(flush_db, rx))?;
        Ok(Arc::new(Self {
            db,
            path: path.to_path_buf(),
            flusher: std::sync::Mutex::new(Some(tx)),
            flusher_thread: std::sync::Mutex::new(Some(thread)),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn raw(&self) -> &DB {
        &self.db
    }

    pub(crate) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column families are created on open")
    }

    /// Calls `done` once everything written so far is on disk. Every group's
    /// waiters share the same `flush_wal(true)`.
    pub(crate) fn after_durable(&self, done: impl FnOnce(std::io::Result<()>) + Send + 'static) {
        let waiter: Waiter = Box::new(done);
        let sender = self.flusher.lock().expect("flusher lock").clone();
        match sender {
            Some(tx) => {
                if let Err(mpsc::SendError(waiter)) = tx.send(waiter) {
                    waiter(Err(std::io::Error::other("wal flusher stopped")));
                }
            }
            None => waiter(Err(std::io::Error::other("database closed"))),
        }
    }

    /// Ends the flusher thread (its queue drains first) and waits for it.
    async fn stop_flusher(&self) {
        drop(self.flusher.lock().expect("flusher lock").take());
        let thread = self.flusher_thread.lock().expect("flusher lock").take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    /// Waits until everything written so far is on disk.
    pub(crate) async fn durable(&self) -> std::io::Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.after_durable(move |r| {
            let _ = tx.send(r);
        });
        rx.await.map_err(|_| std::io::Error::other("wal flusher stopped"))?
    }

    pub fn get_node_meta(&self, key: &str) -> Result<Option<Vec<u8>>, RaftError> {
        self.db.get_cf(self.cf(CF_NODE), key.as_bytes()).map_err(RaftError::rocks("read node meta"))
    }

    pub fn put_node_meta(&self, key: &str, value: &[u8]) -> Result<(), RaftError> {
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.put_cf_opt(self.cf(CF_NODE), key.as_bytes(), value, &wo).map_err(RaftError::rocks("write node meta"))
    }

    /// Makes everything durable and stops RocksDB's background work, so the
    /// process can exit without racing compactions or flushes (which can
    /// abort the process in RocksDB's static destructors).
    pub async fn close(&self) -> std::io::Result<()> {
        self.durable().await?;
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || db.cancel_all_background_work(true))
            .await
            .map_err(|e| std::io::Error::other(format!("close: {e}")))?;
        // Stop and join the flusher so it cannot be the thread that drops
        // the last handle while the process exits: RocksDB's close would then
        // race the destruction of its static mutexes (facebook/rocksdb#11349,
        // seen as SIGABRT "pthread lock: Invalid argument").
        self.stop_flusher().await;
        Ok(())
    }

    /// Approximate on-disk bytes per column family, for metrics.
    pub fn sizes(&self) -> Vec<(&'static str, u64)> {
        ALL_CFS
            .iter()
            .map(|name| {
                let size = self
                    .db
                    .property_int_value_cf(self.cf(name), "rocksdb.total-sst-files-size")
                    .ok()
                    .flatten()
                    .unwrap_or(0)
                    + self
                        .db
                        .property_int_value_cf(self.cf(name), "rocksdb.size-all-mem-tables")
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                (*name, size)
            })
            .collect()
    }

    /// The state-machine key space as a `balsa_storage` engine.
    pub fn sm_kv(self: &Arc<Self>) -> RocksKv {
        RocksKv { db: Arc::clone(self), cf: CF_SM }
    }
}

/// Closes RocksDB on the thread that drops the last handle. Without this the
/// flusher thread, which holds the other `Arc<DB>`, would close it after the
/// sender goes away: a detached close that can still be running when the
/// process exits, racing RocksDB's static destructors (SIGABRT "pthread lock:
/// Invalid argument", facebook/rocksdb#11349).
impl Drop for Db {
    fn drop(&mut self) {
        drop(self.flusher.get_mut().unwrap_or_else(|e| e.into_inner()).take());
        let thread = self.flusher_thread.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            // A waiter run by the flusher may hold the last handle; that
            // thread cannot join itself and ends on its own right after.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

fn flusher_loop(db: Arc<DB>, rx: mpsc::Receiver<Waiter>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let started = Instant::now();
        let result = db.flush_wal(true);
        metrics::histogram!("balsa_wal_fsync_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("balsa_wal_fsync_waiters").record(waiters.len() as f64);
        for w in waiters {
            w(result.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(format!("flush wal: {e}"))));
        }
    }
}

/// One column family as a `balsa_storage` key-value engine.
#[derive(Clone)]
pub struct RocksKv {
    db: Arc<Db>,
    cf: &'static str,
}

impl RocksKv {
    pub fn new(db: Arc<Db>, cf: &'static str) -> Self {
        Self { db, cf }
    }

    /// Adds `batch` to a RocksDB write batch for this column family.
    pub(crate) fn fill(&self, wb: &mut rocksdb::WriteBatch, batch: WriteBatch) {
        let cf = self.db.cf(self.cf);
        for op in batch.ops {
            match op {
                Op::Put(k, v) => wb.put_cf(cf, k, v),
                Op::Delete(k) => wb.delete_cf(cf, k),
                Op::DeleteRange(lo, hi) => wb.delete_range_cf(cf, lo, hi),
            }
        }
    }
}

fn storage_err(context: &str) -> impl FnOnce(rocksdb::Error) -> StorageError + '_ {
    move |e| StorageError::io(format!("{context}: {e}"))
}

impl KvRead for RocksKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        // Pinned: one copy out of RocksDB (chunk values are large) instead of
        // two through a C-allocated buffer.
        let value = self.db.raw().get_pinned_cf(self.db.cf(self.cf), key).map_err(storage_err("get"))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        lower: &[u8],
        upper: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if lower >= upper {
            return Ok(());
        }
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_lower_bound(lower.to_vec());
        ro.set_iterate_upper_bound(upper.to_vec());
        let mut it = self.db.raw().raw_iterator_cf_opt(self.db.cf(self.cf), ro);
        if reverse {
            it.seek_to_last();
        } else {
            it.seek_to_first();
        }
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            if !visit(k, v) {
                return Ok(());
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status().map_err(storage_err("scan"))
    }
}

impl KvWrite for RocksKv {
    fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut wb = rocksdb::WriteBatch::default();
        self.fill(&mut wb, batch);
        self.db.raw().write(wb).map_err(storage_err("write"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rocks_kv_passes_the_storage_conformance_suite() {
        let dirs = std::cell::RefCell::new(Vec::new());
        balsa_storage::testing::kv_conformance(|| {
            let dir = tempfile::tempdir().unwrap();
            let db = Db::open(dir.path()).unwrap();
            dirs.borrow_mut().push(dir);
            db.sm_kv()
        });
    }
}
