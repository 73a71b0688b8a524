//! Small helpers shared by the log store and the state machine.

use std::io;

/// `shard | tag`: a per-shard metadata key.
pub(crate) fn meta_key(shard: u32, tag: u8) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[..4].copy_from_slice(&shard.to_be_bytes());
    k[4] = tag;
    k
}

pub(crate) fn io_err(context: &'static str) -> impl FnOnce(rocksdb::Error) -> io::Error {
    move |e| io::Error::other(format!("{context}: {e}"))
}

/// Runs a RocksDB call off the async worker threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| io::Error::other(format!("blocking task: {e}")))?
}
