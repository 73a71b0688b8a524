//! Balsa's storage: streams, chunks and the stream index for one shard at a
//! time, written against the [`kv`] engine trait. This crate has no RocksDB
//! dependency and knows nothing about Raft, HTTP or LogQL.
//!
//! Data follows `shard → stream → head entries / sealed chunks → blocks`.

pub mod chunk;
pub mod codec;
pub mod command;
pub mod config;
pub mod error;
pub mod keys;
pub mod kv;
pub mod shard;
pub mod testing;
pub mod tier;

pub use command::{ApplyOutcome, Push, ShardCommand};
pub use config::IngesterConfig;
pub use error::{ErrorKind, StorageError};
pub use kv::{KvRead, KvWrite, MemKv, WriteBatch};
pub use shard::{Shard, ShardReader, ShardStats, StreamRecord};
pub use tier::{ColdChunks, ObjectStore};
