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

/// A sealed chunk now lives in the object store under `object`: replicas
/// record that and drop their local copy of the data.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkUploaded {
    #[prost(uint64, tag = "1")]
    pub stream_id: u64,
    #[prost(int64, tag = "2")]
    pub min_ts: i64,
    #[prost(uint32, tag = "3")]
    pub seq: u32,
    #[prost(string, tag = "4")]
    pub object: String,
    #[prost(uint64, tag = "5")]
    pub data_offset: u64,
}

/// A chunk found in the object store that the shard does not know: a
/// cluster started on empty disks with an existing bucket adopts it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdoptChunk {
    #[prost(string, tag = "1")]
    pub tenant: String,
    #[prost(message, repeated, tag = "2")]
    pub labels: Vec<Pair>,
    #[prost(uint32, tag = "3")]
    pub seq: u32,
    /// The chunk's meta, with `object` and `data_offset` set.
    #[prost(message, optional, tag = "4")]
    pub meta: Option<crate::chunk::ChunkMeta>,
    /// The min_ts in the chunk's key (a rewritten chunk keeps its key while
    /// its meta's min_ts may grow); the meta's min_ts when absent.
    #[prost(int64, optional, tag = "5")]
    pub key_min_ts: Option<i64>,
}

/// Retention: drop the stream's sealed chunks that end before `before_ns`
/// (whole chunks, as Loki's compactor does) and head entries older than it.
/// The stream goes away when nothing is left. Objects of dropped chunks are
/// deleted from the object store by the orphan sweep.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Expire {
    #[prost(uint64, tag = "1")]
    pub stream_id: u64,
    #[prost(int64, tag = "2")]
    pub before_ns: i64,
}

/// A log deletion request (`/loki/api/v1/delete`), kept in shard 0.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DeleteRequest {
    #[prost(string, tag = "1")]
    pub tenant: String,
    #[prost(string, tag = "2")]
    pub request_id: String,
    /// A stream selector with optional line filters.
    #[prost(string, tag = "3")]
    pub query: String,
    #[prost(int64, tag = "4")]
    pub start_ns: i64,
    #[prost(int64, tag = "5")]
    pub end_ns: i64,
    /// When the request was received, milliseconds since the Unix epoch.
    #[prost(int64, tag = "6")]
    pub created_ms: i64,
    #[prost(bool, tag = "7")]
    pub processed: bool,
}

/// Record, cancel, or mark processed a delete request (shard 0 only).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteRequestChange {
    #[prost(message, optional, tag = "1")]
    pub request: Option<DeleteRequest>,
    #[prost(enumeration = "DeleteRequestOp", tag = "2")]
    pub op: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DeleteRequestOp {
    Add = 0,
    Cancel = 1,
    MarkProcessed = 2,
}

/// Replaces a sealed chunk's entries (a processed delete request): the new
/// data is carried in the entry, so every replica writes the same bytes. The
/// chunk keeps its key; it becomes local again and is uploaded anew when
/// S3 is configured. With no entries left, the chunk is dropped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RewriteChunk {
    #[prost(uint64, tag = "1")]
    pub stream_id: u64,
    #[prost(int64, tag = "2")]
    pub min_ts: i64,
    #[prost(uint32, tag = "3")]
    pub seq: u32,
    /// The new chunk's meta and data; absent when nothing is left.
    #[prost(message, optional, tag = "4")]
    pub meta: Option<crate::chunk::ChunkMeta>,
    #[prost(bytes = "vec", tag = "5")]
    pub data: Vec<u8>,
    /// The old chunk's object key, if any: the rewrite applies only if the
    /// chunk is still as the leader read it.
    #[prost(string, tag = "6")]
    pub expect_object: String,
    #[prost(uint32, tag = "7")]
    pub expect_entries: u32,
    #[prost(uint32, tag = "8")]
    pub expect_generation: u32,
}

/// Deletes head entries of a stream, by (timestamp, entry hash).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteHeadEntries {
    #[prost(uint64, tag = "1")]
    pub stream_id: u64,
    #[prost(int64, repeated, tag = "2")]
    pub ts_ns: Vec<i64>,
    #[prost(uint64, repeated, tag = "3")]
    pub hashes: Vec<u64>,
}

/// The leader's wall clock, so that idle head chunks are sealed even when a
/// shard receives nothing newer (apply itself never reads a clock).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Tick {
    #[prost(int64, tag = "1")]
    pub now_ns: i64,
}

/// A small record kept for a component above storage (the ruler's rule
/// groups and alert state): opaque bytes under `(space, key)`. Storage does
/// not interpret the value; the space keeps components apart.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordChange {
    #[prost(string, tag = "1")]
    pub space: String,
    /// The record's key; with `DeletePrefix`, the prefix of the keys to delete.
    #[prost(string, tag = "2")]
    pub key: String,
    #[prost(bytes = "vec", tag = "3")]
    pub value: Vec<u8>,
    #[prost(enumeration = "RecordOp", tag = "4")]
    pub op: i32,
    /// With `Put`: apply only when the record does not exist yet (a claim);
    /// otherwise the change is reported in `rejected`.
    #[prost(bool, tag = "5")]
    pub if_absent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum RecordOp {
    Put = 0,
    Delete = 1,
    DeletePrefix = 2,
}

/// The shard has looked for objects to adopt once; it never does again.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdoptionDone {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ShardCommand {
    #[prost(oneof = "shard_command::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10")]
    pub kind: Option<shard_command::Kind>,
}

pub mod shard_command {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Push(super::Push),
        #[prost(message, tag = "2")]
        ChunkUploaded(super::ChunkUploaded),
        #[prost(message, tag = "3")]
        AdoptChunk(super::AdoptChunk),
        #[prost(message, tag = "4")]
        AdoptionDone(super::AdoptionDone),
        #[prost(message, tag = "5")]
        Expire(super::Expire),
        #[prost(message, tag = "6")]
        DeleteRequest(super::DeleteRequestChange),
        #[prost(message, tag = "7")]
        RewriteChunk(super::RewriteChunk),
        #[prost(message, tag = "8")]
        DeleteHeadEntries(super::DeleteHeadEntries),
        #[prost(message, tag = "9")]
        Tick(super::Tick),
        #[prost(message, tag = "10")]
        Record(super::RecordChange),
    }
}

impl ShardCommand {
    pub fn push(push: Push) -> Self {
        Self { kind: Some(shard_command::Kind::Push(push)) }
    }

    pub fn chunk_uploaded(uploaded: ChunkUploaded) -> Self {
        Self { kind: Some(shard_command::Kind::ChunkUploaded(uploaded)) }
    }

    pub fn adopt_chunk(adopt: AdoptChunk) -> Self {
        Self { kind: Some(shard_command::Kind::AdoptChunk(adopt)) }
    }

    pub fn expire(stream_id: u64, before_ns: i64) -> Self {
        Self { kind: Some(shard_command::Kind::Expire(Expire { stream_id, before_ns })) }
    }

    pub fn delete_request(op: DeleteRequestOp, request: DeleteRequest) -> Self {
        Self {
            kind: Some(shard_command::Kind::DeleteRequest(DeleteRequestChange {
                request: Some(request),
                op: op as i32,
            })),
        }
    }

    pub fn rewrite_chunk(rewrite: RewriteChunk) -> Self {
        Self { kind: Some(shard_command::Kind::RewriteChunk(rewrite)) }
    }

    pub fn delete_head_entries(delete: DeleteHeadEntries) -> Self {
        Self { kind: Some(shard_command::Kind::DeleteHeadEntries(delete)) }
    }

    pub fn tick(now_ns: i64) -> Self {
        Self { kind: Some(shard_command::Kind::Tick(Tick { now_ns })) }
    }

    /// Puts a record (`value: Some`) or deletes it (`None`).
    pub fn record(space: &str, key: &str, value: Option<Vec<u8>>) -> Self {
        let op = if value.is_some() { RecordOp::Put } else { RecordOp::Delete };
        Self {
            kind: Some(shard_command::Kind::Record(RecordChange {
                space: space.to_string(),
                key: key.to_string(),
                value: value.unwrap_or_default(),
                op: op as i32,
                if_absent: false,
            })),
        }
    }

    /// Deletes every record of `space` whose key starts with `prefix`.
    pub fn delete_records(space: &str, prefix: &str) -> Self {
        Self {
            kind: Some(shard_command::Kind::Record(RecordChange {
                space: space.to_string(),
                key: prefix.to_string(),
                value: Vec::new(),
                op: RecordOp::DeletePrefix as i32,
                if_absent: false,
            })),
        }
    }

    pub fn adoption_done() -> Self {
        Self { kind: Some(shard_command::Kind::AdoptionDone(AdoptionDone {})) }
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
