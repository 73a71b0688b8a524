//! The cold tier: sealed chunks moved to an object store.
//!
//! A sealed chunk gets an `U` (upload pending) key next to its meta. The
//! group leader reads it with [`pending_uploads`], builds a self-describing
//! object with [`chunk_object`], puts it under a content-addressed key and
//! proposes [`ChunkUploaded`](crate::command::ChunkUploaded). Applying that
//! records the key in the chunk's meta and deletes the local bytes and the
//! `U` key on every replica, so local data is dropped only once the object
//! exists. A crash between the put and the commit leaves an orphan object
//! (same key next time: the key is a hash of the bytes), never a lost chunk.
//!
//! This crate knows no SDK: [`ObjectStore`] is the async interface an object
//! store implements, [`ColdChunks`] the blocking read interface readers use.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use balsa_model::StreamId;

use crate::chunk::ChunkMeta;
use crate::command::Pair;
use crate::error::{Result, StorageError};
use crate::keys;
use crate::kv::KvRead;
use crate::shard::StreamRecord;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An object store (S3 or compatible). Errors use
/// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) when the store
/// cannot be reached and [`ErrorKind::NotFound`](crate::ErrorKind::NotFound)
/// for a missing key.
pub trait ObjectStore: Send + Sync {
    fn put<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<()>>;
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>>>;
    /// Bytes `start..end` of the object (fewer when it is shorter).
    fn get_range<'a>(&'a self, key: &'a str, start: u64, end: u64) -> BoxFuture<'a, Result<Vec<u8>>>;
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Every object whose key starts with `prefix`, in key order.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectInfo>>>;
}

/// An object as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch (0 if unknown).
    pub modified_ms: i64,
}

/// Blocking access to cold chunks for readers, which run on their own
/// threads. Implementations cache.
pub trait ColdChunks: Send + Sync {
    /// Bytes `start..end` of the object stored under `key` (one chunk's data).
    fn fetch(&self, key: &str, start: u64, end: u64) -> Result<Arc<Vec<u8>>>;
}

const OBJECT_MAGIC: &[u8; 8] = b"BALSAC01";

/// What an object says about itself, so that the bucket alone can rebuild
/// every sealed chunk. One object holds one or more chunks of one tenant
/// (small chunks are packed together so the bucket does not fill with tiny
/// objects).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkObjectHeader {
    #[prost(string, tag = "1")]
    pub tenant: String,
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<ObjectChunk>,
}

/// One chunk inside an object.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ObjectChunk {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Pair>,
    #[prost(uint64, tag = "2")]
    pub stream_id: u64,
    #[prost(uint32, tag = "3")]
    pub seq: u32,
    /// The chunk's meta as sealed (block offsets relative to the chunk's data).
    #[prost(message, optional, tag = "4")]
    pub meta: Option<ChunkMeta>,
    /// Where the chunk's data starts, relative to the end of the header.
    #[prost(uint64, tag = "5")]
    pub offset: u64,
    /// The min_ts in the chunk's key.
    #[prost(int64, optional, tag = "6")]
    pub key_min_ts: Option<i64>,
}

/// Objects ready to be put into the object store, and what each holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkObject {
    pub key: String,
    pub bytes: Vec<u8>,
    /// Each chunk with the absolute offset of its data in `bytes`.
    pub chunks: Vec<(PendingChunk, u64)>,
}

impl ChunkObject {
    /// The commands that record this object's chunks as uploaded.
    pub fn uploaded_commands(&self) -> Vec<crate::ShardCommand> {
        self.chunks
            .iter()
            .map(|(c, data_offset)| {
                crate::ShardCommand::chunk_uploaded(crate::command::ChunkUploaded {
                    stream_id: c.stream_id,
                    min_ts: c.min_ts,
                    seq: c.seq,
                    object: self.key.clone(),
                    data_offset: *data_offset,
                })
            })
            .collect()
    }
}

/// `magic | header length (u32 BE) | header | chunk data…`; returns the
/// bytes and where the data section starts.
pub fn encode_object(header: &ChunkObjectHeader, data: &[u8]) -> (Vec<u8>, u64) {
    let head = prost::Message::encode_to_vec(header);
    let mut out = Vec::with_capacity(12 + head.len() + data.len());
    out.extend_from_slice(OBJECT_MAGIC);
    out.extend_from_slice(&(head.len() as u32).to_be_bytes());
    out.extend_from_slice(&head);
    let data_offset = out.len() as u64;
    out.extend_from_slice(data);
    (out, data_offset)
}

/// The header of an object and where its data section starts.
pub fn decode_object(bytes: &[u8]) -> Result<(ChunkObjectHeader, usize)> {
    if bytes.len() < 12 || &bytes[..8] != OBJECT_MAGIC {
        return Err(StorageError::corrupt("not a balsa chunk object"));
    }
    let len = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    let end = 12usize.checked_add(len).filter(|e| *e <= bytes.len());
    let end = end.ok_or_else(|| StorageError::corrupt("chunk object header truncated"))?;
    let header = <ChunkObjectHeader as prost::Message>::decode(&bytes[12..end])?;
    Ok((header, end))
}

/// `{prefix}chunks/{tenant}/{stream}/{min_ts}-{seq}-{hash}`: readable by an
/// operator, and content-addressed so that retried uploads of the same
/// chunk land on the same key.
pub fn object_key(prefix: &str, tenant: &str, stream: StreamId, min_ts: i64, seq: u32, bytes: &[u8]) -> String {
    let hash = xxhash_rust::xxh3::xxh3_64(bytes);
    format!("{prefix}chunks/{tenant}/{stream:016x}/{min_ts}-{seq}-{hash:016x}")
}

/// (tenant, stream id) of a key made by [`object_key`] with `prefix`.
pub fn parse_object_key<'k>(prefix: &str, key: &'k str) -> Option<(&'k str, StreamId)> {
    let mut parts = key.strip_prefix(prefix)?.strip_prefix("chunks/")?.split('/');
    let (tenant, stream, _name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || tenant.is_empty() || stream.len() != 16 {
        return None;
    }
    Some((tenant, u64::from_str_radix(stream, 16).ok()?))
}

/// Bytes an object's beginning must hold for [`decode_object`] to read its
/// header, from its first 12 bytes.
pub fn header_end(first: &[u8]) -> Result<usize> {
    if first.len() < 12 || &first[..8] != OBJECT_MAGIC {
        return Err(StorageError::corrupt("not a balsa chunk object"));
    }
    Ok(12 + u32::from_be_bytes(first[8..12].try_into().expect("4 bytes")) as usize)
}

/// The commands that adopt the chunks of the object stored under `key`,
/// given at least its header, each with its stream (which decides its shard).
pub fn adopt_commands(
    key: &str,
    head: &[u8],
    tombstones: &std::collections::HashSet<Tombstone>,
) -> Result<Vec<(StreamId, crate::ShardCommand)>> {
    let (header, data_start) = decode_object(head)?;
    let mut out = Vec::with_capacity(header.chunks.len());
    for c in header.chunks {
        let mut meta =
            c.meta.ok_or_else(|| StorageError::corrupt(format!("chunk object {key} has a chunk without meta")))?;
        let key_min_ts = c.key_min_ts.unwrap_or(meta.min_ts);
        let tombstone = Tombstone { stream_id: c.stream_id, key_min_ts, seq: c.seq, generation: meta.generation };
        if tombstones.contains(&tombstone) {
            continue;
        }
        meta.object = key.to_string();
        meta.data_offset = data_start as u64 + c.offset;
        let cmd = crate::ShardCommand::adopt_chunk(crate::command::AdoptChunk {
            tenant: header.tenant.clone(),
            labels: c.labels,
            seq: c.seq,
            meta: Some(meta),
            key_min_ts: Some(key_min_ts),
        });
        out.push((c.stream_id, cmd));
    }
    Ok(out)
}

/// A chunk copy that must not be adopted from the bucket: a delete request
/// rewrote (or removed) that generation of the chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tombstone {
    pub stream_id: StreamId,
    pub key_min_ts: i64,
    pub seq: u32,
    pub generation: u32,
}

/// `{prefix}tombstones/{tenant}/{stream}/{generation}_{seq}_{key_min_ts}`:
/// an empty object written after a delete request rewrote a cold chunk.
pub fn tombstone_key(prefix: &str, tenant: &str, t: &Tombstone) -> String {
    format!("{prefix}tombstones/{tenant}/{:016x}/{}_{}_{}", t.stream_id, t.generation, t.seq, t.key_min_ts)
}

pub fn parse_tombstone_key(prefix: &str, key: &str) -> Option<Tombstone> {
    let mut parts = key.strip_prefix(prefix)?.strip_prefix("tombstones/")?.split('/');
    let (_tenant, stream, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let mut fields = name.splitn(3, '_');
    let generation = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    let key_min_ts = fields.next()?.parse().ok()?;
    Some(Tombstone { stream_id: u64::from_str_radix(stream, 16).ok()?, key_min_ts, seq, generation })
}

/// Whether `shard` has already adopted what the object store held.
pub fn adopted(kv: &dyn KvRead, shard: u32) -> Result<bool> {
    Ok(kv.get(&keys::adopted(shard))?.is_some())
}

/// Object keys that chunks of `shard` refer to.
pub fn referenced_objects(kv: &dyn KvRead, shard: u32) -> Result<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    let (lo, hi) = (keys::kind_prefix(shard, keys::CHUNK_META), keys::kind_end(shard, keys::CHUNK_META));
    crate::kv::scan_messages(kv, &lo, &hi, &mut |_, meta: ChunkMeta| {
        if !meta.object.is_empty() {
            out.insert(meta.object);
        }
        true
    })?;
    Ok(out)
}

/// A sealed chunk that is not in the object store yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PendingChunk {
    pub stream_id: StreamId,
    pub min_ts: i64,
    pub seq: u32,
}

/// Up to `limit` chunks of `shard` waiting for upload, oldest key first.
pub fn pending_uploads(kv: &dyn KvRead, shard: u32, limit: usize) -> Result<Vec<PendingChunk>> {
    let mut out = Vec::new();
    let (lo, hi) = (keys::kind_prefix(shard, keys::UPLOAD_PENDING), keys::kind_end(shard, keys::UPLOAD_PENDING));
    kv.scan(&lo, &hi, false, &mut |k, _| {
        if out.len() >= limit {
            return false;
        }
        let (stream_id, min_ts, seq) = keys::chunk_id_of(k);
        out.push(PendingChunk { stream_id, min_ts, seq });
        true
    })?;
    Ok(out)
}

/// How many chunks of `shard` wait for upload.
pub fn count_pending(kv: &dyn KvRead, shard: u32) -> Result<u64> {
    let mut n = 0;
    let (lo, hi) = (keys::kind_prefix(shard, keys::UPLOAD_PENDING), keys::kind_end(shard, keys::UPLOAD_PENDING));
    kv.scan(&lo, &hi, false, &mut |_, _| {
        n += 1;
        true
    })?;
    Ok(n)
}

/// What an object needs of one pending chunk.
struct Material {
    chunk: PendingChunk,
    record: StreamRecord,
    meta: ChunkMeta,
    data: Vec<u8>,
}

/// A pending chunk's upload material: `None` when it no longer needs one
/// (deleted, or already recorded as uploaded).
fn pending_material(kv: &dyn KvRead, shard: u32, chunk: &PendingChunk) -> Result<Option<Material>> {
    let PendingChunk { stream_id, min_ts, seq } = *chunk;
    let Some(meta) = kv.get(&keys::chunk_meta(shard, stream_id, min_ts, seq))? else {
        return Ok(None);
    };
    let meta = <ChunkMeta as prost::Message>::decode(meta.as_slice())?;
    if !meta.object.is_empty() {
        return Ok(None);
    }
    let Some(data) = kv.get(&keys::chunk_data(shard, stream_id, min_ts, seq))? else {
        return Err(StorageError::corrupt("chunk data missing for its meta"));
    };
    let record = kv
        .get(&keys::stream(shard, stream_id))?
        .ok_or_else(|| StorageError::corrupt("chunk of a stream without a record"))?;
    let record = <StreamRecord as prost::Message>::decode(record.as_slice())?;
    Ok(Some(Material { chunk: *chunk, record, meta, data }))
}

/// Packs pending chunks of `shard` into objects of about `target_size`
/// bytes: chunks of one tenant share an object until it is full; a chunk
/// larger than the target gets an object of its own. Deterministic in the
/// input, so a retried upload writes the same keys.
pub fn pack_objects(
    kv: &dyn KvRead,
    shard: u32,
    prefix: &str,
    pending: &[PendingChunk],
    target_size: u64,
) -> Result<Vec<ChunkObject>> {
    let mut by_tenant: std::collections::BTreeMap<String, Vec<Material>> = std::collections::BTreeMap::new();
    for chunk in pending {
        if let Some(m) = pending_material(kv, shard, chunk)? {
            by_tenant.entry(m.record.tenant.clone()).or_default().push(m);
        }
    }
    let mut objects = Vec::new();
    for (tenant, chunks) in by_tenant {
        let mut group: Vec<Material> = Vec::new();
        let mut size = 0u64;
        for m in chunks {
            let len = m.data.len() as u64;
            if !group.is_empty() && size + len > target_size {
                objects.push(build_object(prefix, &tenant, std::mem::take(&mut group)));
                size = 0;
            }
            size += len;
            group.push(m);
        }
        if !group.is_empty() {
            objects.push(build_object(prefix, &tenant, group));
        }
    }
    Ok(objects)
}

fn build_object(prefix: &str, tenant: &str, group: Vec<Material>) -> ChunkObject {
    let mut header = ChunkObjectHeader { tenant: tenant.to_string(), chunks: Vec::with_capacity(group.len()) };
    let mut data = Vec::with_capacity(group.iter().map(|m| m.data.len()).sum());
    for m in &group {
        header.chunks.push(ObjectChunk {
            labels: m.record.labels.clone(),
            stream_id: m.chunk.stream_id,
            seq: m.chunk.seq,
            meta: Some(m.meta.clone()),
            offset: data.len() as u64,
            key_min_ts: Some(m.chunk.min_ts),
        });
        data.extend_from_slice(&m.data);
    }
    let (bytes, data_start) = encode_object(&header, &data);
    let first = group[0].chunk;
    let key = object_key(prefix, tenant, first.stream_id, first.min_ts, first.seq, &bytes);
    let chunks = header.chunks.iter().zip(&group).map(|(c, m)| (m.chunk, data_start + c.offset)).collect();
    ChunkObject { key, bytes, chunks }
}

/// An object store in memory, for tests. `set_available(false)` makes every
/// call fail as an unreachable store would.
#[derive(Default)]
pub struct MemObjectStore {
    objects: Mutex<std::collections::BTreeMap<String, (Vec<u8>, i64)>>,
    down: std::sync::atomic::AtomicBool,
    gets: std::sync::atomic::AtomicU64,
}

impl MemObjectStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_available(&self, up: bool) {
        self.down.store(!up, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many `get` calls reached the store.
    pub fn gets(&self) -> u64 {
        self.gets.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().expect("objects lock").keys().cloned().collect()
    }

    fn check(&self) -> Result<()> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StorageError::unavailable("memory object store is down"));
        }
        Ok(())
    }
}

impl ObjectStore for MemObjectStore {
    fn put<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.check()?;
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            self.objects.lock().expect("objects lock").insert(key.to_string(), (data, now));
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            self.check()?;
            self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let objects = self.objects.lock().expect("objects lock");
            objects.get(key).map(|o| o.0.clone()).ok_or_else(|| StorageError::not_found(format!("no object {key}")))
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, start: u64, end: u64) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let all = self.get(key).await?;
            let end = (end as usize).min(all.len());
            let start = (start as usize).min(end);
            Ok(all[start..end].to_vec())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.check()?;
            self.objects.lock().expect("objects lock").remove(key);
            Ok(())
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectInfo>>> {
        Box::pin(async move {
            self.check()?;
            let objects = self.objects.lock().expect("objects lock");
            Ok(objects
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, (data, modified_ms))| ObjectInfo {
                    key: k.clone(),
                    size: data.len() as u64,
                    modified_ms: *modified_ms,
                })
                .collect())
        })
    }
}

/// Runs a future to completion on the current thread. Only for stores whose
/// futures need no runtime (like [`MemObjectStore`]), i.e. tests.
pub fn block_on_ready<T>(fut: impl Future<Output = T>) -> T {
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// [`ColdChunks`] over a [`MemObjectStore`] with a cache of whole objects,
/// for tests of the read path.
pub struct MemCold {
    pub store: Arc<MemObjectStore>,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl MemCold {
    pub fn new(store: Arc<MemObjectStore>) -> Self {
        Self { store, cache: Mutex::new(HashMap::new()) }
    }
}

impl ColdChunks for MemCold {
    fn fetch(&self, key: &str, start: u64, end: u64) -> Result<Arc<Vec<u8>>> {
        let cache_key = format!("{key}#{start}-{end}");
        if let Some(hit) = self.cache.lock().expect("cache lock").get(&cache_key) {
            return Ok(Arc::clone(hit));
        }
        let bytes = Arc::new(block_on_ready(self.store.get_range(key, start, end))?);
        self.cache.lock().expect("cache lock").insert(cache_key, Arc::clone(&bytes));
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_describe_themselves() {
        let header = ChunkObjectHeader {
            tenant: "t".into(),
            chunks: vec![ObjectChunk {
                labels: vec![Pair { name: "app".into(), value: "x".into() }],
                stream_id: 7,
                seq: 2,
                meta: Some(ChunkMeta { min_ts: 1, max_ts: 9, entries: 3, ..Default::default() }),
                offset: 0,
                key_min_ts: Some(1),
            }],
        };
        let (bytes, offset) = encode_object(&header, b"data");
        let (back, at) = decode_object(&bytes).unwrap();
        assert_eq!(back, header);
        assert_eq!(at as u64, offset);
        assert_eq!(&bytes[at..], b"data");
        assert!(decode_object(&bytes[..10]).is_err());
        assert!(decode_object(&bytes[..14]).is_err());
        assert!(decode_object(b"BALSAC01\xff\xff\xff\xffxx").is_err());
        assert_eq!(header_end(&bytes[..12]).unwrap(), at);
        let k1 = object_key("p/", "t", 7, -5, 2, &bytes);
        assert_eq!(parse_object_key("p/", &k1), Some(("t", 7)));
        assert_eq!(parse_object_key("q/", &k1), None);
        assert_eq!(parse_object_key("p/", "p/chunks/t/zz/x"), None);
        let t = Tombstone { stream_id: 9, key_min_ts: -17, seq: 3, generation: 2 };
        assert_eq!(parse_tombstone_key("p/", &tombstone_key("p/", "t", &t)), Some(t));
        assert_eq!(parse_tombstone_key("p/", "p/tombstones/t/x"), None);
        assert!(k1.starts_with("p/chunks/t/0000000000000007/-5-2-"), "{k1}");
        assert_eq!(k1, object_key("p/", "t", 7, -5, 2, &bytes), "same bytes, same key");
        assert_ne!(k1, object_key("p/", "t", 7, -5, 2, b"other"));
    }
}
