//! Commands replicated through a shard's Raft log, as prost messages so the
//! format can evolve across a rolling upgrade (new fields, new variants).

use balsa_model::{Entry, LabelPair, Labels, StreamPush};

#[derive(Clone, PartialEq, prost::Message)]
pub struct Pair {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryRecord {
    #[prost(int64, tag = "1")]
    pub ts_ns: i64,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<Pair>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamEntries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Pair>,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryRecord>,
}

/// Append entries to streams of one tenant.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Push {
    #[prost(string, tag = "1")]
    pub tenant: String,
    #[prost(message, repeated, tag = "2")]
    pub streams: Vec<StreamEntries>,
    /// Entries older than the stream's newest entry minus this window are
    /// rejected (Loki's unordered-writes window). Decided by the distributor
    /// and carried in the command so every replica applies the same rule.
    #[prost(int64, tag = "3")]
    pub out_of_order_window_ns: i64,
    /// When false, entries older than the stream's newest entry are rejected.
    #[prost(bool, tag = "4")]
    pub unordered_writes: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ShardCommand {
    #[prost(oneof = "shard_command::Kind", tags = "1")]
    pub kind: Option<shard_command::Kind>,
}

pub mod shard_command {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Push(super::Push),
    }
}

impl ShardCommand {
    pub fn push(push: Push) -> Self {
        Self { kind: Some(shard_command::Kind::Push(push)) }
    }
}

/// What applying one command did, reported back to the client that proposed it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplyOutcome {
    pub accepted: u64,
    /// One Loki-formatted message per stream with rejected entries.
    pub rejected: Vec<String>,
}

impl From<&LabelPair> for Pair {
    fn from(p: &LabelPair) -> Self {
        Pair { name: p.name.clone(), value: p.value.clone() }
    }
}

impl From<&Pair> for LabelPair {
    fn from(p: &Pair) -> Self {
        LabelPair { name: p.name.clone(), value: p.value.clone() }
    }
}

impl From<&Entry> for EntryRecord {
    fn from(e: &Entry) -> Self {
        EntryRecord {
            ts_ns: e.ts_ns,
            line: e.line.clone(),
            structured_metadata: e.structured_metadata.iter().map(Pair::from).collect(),
        }
    }
}

impl EntryRecord {
    pub fn to_entry(&self) -> Entry {
        Entry {
            ts_ns: self.ts_ns,
            line: self.line.clone(),
            structured_metadata: self.structured_metadata.iter().map(LabelPair::from).collect(),
        }
    }
}

impl From<&StreamPush> for StreamEntries {
    fn from(s: &StreamPush) -> Self {
        StreamEntries {
            labels: s.labels.iter().map(Pair::from).collect(),
            entries: s.entries.iter().map(EntryRecord::from).collect(),
        }
    }
}

impl StreamEntries {
    pub fn labels(&self) -> Labels {
        Labels::new(self.labels.iter().map(LabelPair::from).collect())
    }
}
