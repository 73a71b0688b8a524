//! Balsa's domain vocabulary, shared by every crate: a tenant owns streams, a
//! stream is a label set, and a stream holds entries.
//!
//! This crate does no I/O and knows nothing about HTTP, Raft, RocksDB or LogQL.

pub mod entry;
pub mod labels;
pub mod read;
pub mod tenant;
pub mod timefmt;
pub mod units;

pub use entry::{AppliedPush, Entry, PushRequest, StreamPush};
pub use labels::{LabelPair, Labels};
pub use read::{
    BytePattern, Direction, LineHint, MemChunks, MemStreams, Needle, ReadError, Skipped, StreamReader, StreamRef,
};
pub use tenant::{TenantId, TenantIdError};

/// Identifies a stream within a tenant: a 64-bit fingerprint of the tenant and
/// the canonical label string.
pub type StreamId = u64;

/// The shard a stream belongs to: `hash(tenant, canonical labels) mod shards`.
pub fn shard_of(tenant: &str, labels: &Labels, shard_count: u32) -> u32 {
    (stream_id(tenant, labels) % u64::from(shard_count.max(1))) as u32
}

/// The stream's fingerprint: xxh3 over `tenant \0 canonical-labels`.
pub fn stream_id(tenant: &str, labels: &Labels) -> StreamId {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(tenant.as_bytes());
    hasher.update(&[0]);
    hasher.update(labels.canonical().as_bytes());
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_is_stable_and_in_range() {
        let labels = Labels::from_pairs([("job", "test"), ("app", "x")]);
        let a = shard_of("fake", &labels, 16);
        let b = shard_of("fake", &Labels::from_pairs([("app", "x"), ("job", "test")]), 16);
        assert_eq!(a, b, "label order must not change the shard");
        assert!(a < 16);
        assert_ne!(stream_id("fake", &labels), stream_id("other", &labels), "tenants must not share streams");
    }
}
