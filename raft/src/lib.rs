//! Balsa's replication layer: one openraft group per shard, all groups of a
//! node sharing one RocksDB (log, vote and state machine in column families
//! by kind, keys prefixed by shard id) and one group-commit fsync thread.
//!
//! openraft stays behind this crate: callers see [`RaftNode`], shard ids,
//! `balsa_storage` commands and readers. This crate knows nothing about LogQL
//! or HTTP.

mod codec;
pub mod config;
pub mod db;
pub mod error;
mod log_store;
pub mod node;
mod rocks;
mod state_machine;
pub mod transport;
pub mod types;

#[cfg(test)]
mod conformance;

pub use config::RaftConfig;
pub use db::{Db, RocksKv};
pub use error::{ProposeError, RaftError};
pub use node::{ClusterSpec, GroupStatus, RaftNode};
pub use transport::NetFilter;
