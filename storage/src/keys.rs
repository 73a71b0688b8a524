//! Key layout of the state-machine key space. Every key starts with the shard
//! id (big-endian u32), so that one shard is one contiguous key range that can
//! be scanned, deleted or snapshotted as a whole.
//!
//! ```text
//! shard | 'S' | stream_id                      -> StreamRecord (stream labels, time range, head state)
//! shard | 'H' | stream_id | ts | entry_hash    -> head entry (line + structured metadata)
//! shard | 'c' | stream_id | min_ts | seq       -> ChunkMeta (blocks with min/max ts)
//! shard | 'C' | stream_id | min_ts | seq       -> chunk data (snappy blocks)
//! shard | 'U' | stream_id | min_ts | seq       -> empty: sealed, not yet in the object store
//! shard | 'A'                                  -> empty: the shard looked for objects to adopt
//! shard | 'R' | tenant | 0 | request_id        -> DeleteRequest (shard 0 only)
//! shard | 'K'                                  -> the shard clock (i64 BE)
//! shard | 'M' | space | 0 | key                -> a record of a component above storage (opaque)
//! ```
//! Timestamps are i64 nanoseconds with the sign bit flipped, big-endian, so
//! byte order is time order.

use balsa_model::StreamId;

pub const STREAM: u8 = b'S';
pub const HEAD: u8 = b'H';
pub const CHUNK_META: u8 = b'c';
pub const CHUNK_DATA: u8 = b'C';
pub const UPLOAD_PENDING: u8 = b'U';
pub const ADOPTED: u8 = b'A';
pub const DELETE_REQUEST: u8 = b'R';
pub const CLOCK: u8 = b'K';
pub const RECORD: u8 = b'M';

pub fn clock(shard: u32) -> Vec<u8> {
    kind_prefix(shard, CLOCK)
}

pub fn delete_request(shard: u32, tenant: &str, request_id: &str) -> Vec<u8> {
    let mut k = kind_prefix(shard, DELETE_REQUEST);
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(request_id.as_bytes());
    k
}

/// The key of a record, or with `key` a prefix, the first key of those records.
pub fn record(shard: u32, space: &str, key: &str) -> Vec<u8> {
    let mut k = kind_prefix(shard, RECORD);
    k.extend_from_slice(space.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The first key after every record of `space` whose key starts with `prefix`.
pub fn record_prefix_end(shard: u32, space: &str, prefix: &str) -> Vec<u8> {
    let mut k = record(shard, space, prefix);
    // Strip trailing 0xff bytes, then increment the last byte (UTF-8 keys never hold 0xff).
    while k.last() == Some(&0xff) {
        k.pop();
    }
    if let Some(last) = k.last_mut() {
        *last += 1;
    }
    k
}

/// The marker that a shard has adopted what the object store held.
pub fn adopted(shard: u32) -> Vec<u8> {
    kind_prefix(shard, ADOPTED)
}

pub fn shard_prefix(shard: u32) -> Vec<u8> {
    shard.to_be_bytes().to_vec()
}

/// The first key after every key of `shard`.
pub fn shard_end(shard: u32) -> Vec<u8> {
    match shard.checked_add(1) {
        Some(next) => next.to_be_bytes().to_vec(),
        None => vec![0xff; 5],
    }
}

pub fn encode_ts(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn decode_ts(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    (u64::from_be_bytes(a) ^ (1 << 63)) as i64
}

fn with_kind(shard: u32, kind: u8, stream: StreamId, cap: usize) -> Vec<u8> {
    let mut k = Vec::with_capacity(13 + cap);
    k.extend_from_slice(&shard.to_be_bytes());
    k.push(kind);
    k.extend_from_slice(&stream.to_be_bytes());
    k
}

pub fn kind_prefix(shard: u32, kind: u8) -> Vec<u8> {
    let mut k = shard.to_be_bytes().to_vec();
    k.push(kind);
    k
}

pub fn kind_end(shard: u32, kind: u8) -> Vec<u8> {
    let mut k = shard.to_be_bytes().to_vec();
    k.push(kind + 1);
    k
}

pub fn stream(shard: u32, stream: StreamId) -> Vec<u8> {
    with_kind(shard, STREAM, stream, 0)
}

pub fn stream_id_of(key: &[u8]) -> StreamId {
    let mut a = [0u8; 8];
    a.copy_from_slice(&key[5..13]);
    u64::from_be_bytes(a)
}

pub fn head_entry(shard: u32, stream: StreamId, ts: i64, hash: u64) -> Vec<u8> {
    let mut k = with_kind(shard, HEAD, stream, 16);
    k.extend_from_slice(&encode_ts(ts));
    k.extend_from_slice(&hash.to_be_bytes());
    k
}

/// Head keys of `stream` with `start <= ts < end`.
pub fn head_range(shard: u32, stream: StreamId, start: i64, end: i64) -> (Vec<u8>, Vec<u8>) {
    let mut lo = with_kind(shard, HEAD, stream, 8);
    lo.extend_from_slice(&encode_ts(start));
    let mut hi = with_kind(shard, HEAD, stream, 8);
    hi.extend_from_slice(&encode_ts(end));
    (lo, hi)
}

pub fn head_ts_of(key: &[u8]) -> i64 {
    decode_ts(&key[13..21])
}

pub fn chunk_meta(shard: u32, stream: StreamId, min_ts: i64, seq: u32) -> Vec<u8> {
    let mut k = with_kind(shard, CHUNK_META, stream, 12);
    k.extend_from_slice(&encode_ts(min_ts));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn chunk_data(shard: u32, stream: StreamId, min_ts: i64, seq: u32) -> Vec<u8> {
    let mut k = with_kind(shard, CHUNK_DATA, stream, 12);
    k.extend_from_slice(&encode_ts(min_ts));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn upload_pending(shard: u32, stream: StreamId, min_ts: i64, seq: u32) -> Vec<u8> {
    with_kind_of(&chunk_data(shard, stream, min_ts, seq), UPLOAD_PENDING)
}

/// Every key of one kind for one stream.
pub fn stream_kind_range(shard: u32, kind: u8, stream: StreamId) -> (Vec<u8>, Vec<u8>) {
    let lo = with_kind(shard, kind, stream, 0);
    let hi = match stream.checked_add(1) {
        Some(next) => with_kind(shard, kind, next, 0),
        None => kind_end(shard, kind),
    };
    (lo, hi)
}

/// The data key that belongs to a chunk meta key.
pub fn data_key_for_meta(meta_key: &[u8]) -> Vec<u8> {
    with_kind_of(meta_key, CHUNK_DATA)
}

/// The same chunk's key of another kind (`c`, `C` and `U` share a suffix).
pub fn with_kind_of(chunk_key: &[u8], kind: u8) -> Vec<u8> {
    let mut k = chunk_key.to_vec();
    k[4] = kind;
    k
}

/// (stream, min_ts, seq) of a `c`, `C` or `U` key.
pub fn chunk_id_of(chunk_key: &[u8]) -> (StreamId, i64, u32) {
    let mut seq = [0u8; 4];
    seq.copy_from_slice(&chunk_key[21..25]);
    (stream_id_of(chunk_key), decode_ts(&chunk_key[13..21]), u32::from_be_bytes(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_as_bytes() {
        let ts = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000_000_000, i64::MAX];
        for w in ts.windows(2) {
            assert!(encode_ts(w[0]) < encode_ts(w[1]));
            assert_eq!(decode_ts(&encode_ts(w[0])), w[0]);
        }
    }

    #[test]
    fn shards_are_disjoint_ranges() {
        let k = head_entry(3, 42, 7, 9);
        assert!(k >= shard_prefix(3) && k < shard_end(3));
        assert!(k >= kind_prefix(3, HEAD) && k < kind_end(3, HEAD));
        let (lo, hi) = head_range(3, 42, 7, 8);
        assert!(k >= lo && k < hi);
        assert_eq!(head_ts_of(&k), 7);
        assert_eq!(stream_id_of(&k), 42);
        let (lo, hi) = stream_kind_range(3, HEAD, 42);
        assert!(k >= lo && k < hi);
        assert_eq!(data_key_for_meta(&chunk_meta(1, 2, 3, 4)), chunk_data(1, 2, 3, 4));
        assert_eq!(with_kind_of(&chunk_meta(1, 2, 3, 4), UPLOAD_PENDING), upload_pending(1, 2, 3, 4));
        assert_eq!(chunk_id_of(&upload_pending(1, 2, -3, 4)), (2, -3, 4));
    }
}
