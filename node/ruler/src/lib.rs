//! Balsa's ruler: Loki's LogQL alerting and recording rules, run inside every
//! `balsa` node, with each rule group evaluated by exactly one node at a time.
//!
//! The ruler knows nothing of Raft, RocksDB or storage: what it needs from the
//! node (instant queries, who owns a group, replicated records for API rule
//! groups and alert state) is the [`RulerBackend`](store::RulerBackend) trait.
//!
//! - [`config`]: Loki's `ruler` / `ruler_storage` keys, validated here.
//! - [`rules`]: rule-group YAML (Prometheus format with LogQL), validation with
//!   Loki's messages, Loki's serialization for the rules API.
//! - [`alert`]: the alert state machine (Prometheus semantics, plus
//!   `keep_firing_for`), pure and table-tested.
//! - [`notifier`]: Alertmanager API v2 client (queues, batches, metrics).
//! - [`remote_write`]: Prometheus remote-write 1.0 client for recording rules.
//! - [`sinks`]: the traits alerts and recorded samples leave through.
//! - [`testing`]: an in-memory cluster and recording sinks for tests.
//! - [`store`]: the seam to the node, and the replicated record formats.
//! - [`manager`]: loads rule files and API groups and keeps one loop per group.
//! - [`group`]: a group's loop: evaluates when this node owns the group,
//!   persists alert state on change, sends.
//! - [`http`]: the rules API and Prometheus' `rules`/`alerts` endpoints.

pub mod alert;
pub mod config;
pub mod group;
pub mod http;
pub mod manager;
pub mod notifier;
pub mod remote_write;
pub mod rules;
pub mod sinks;
pub mod store;
pub mod testing;

pub use config::{RulerConfig, RulerLimits, RulerStorageConfig};
pub use manager::{Clock, Ruler, Shared};
pub use store::RulerBackend;
