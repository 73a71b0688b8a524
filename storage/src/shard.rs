//! One shard's streams: deterministic apply of commands (append to head
//! chunks, seal by size/age/idleness in entry time) and reads.
//!
//! Invariants:
//! - `apply` is a pure function of the shard's key range and the command
//!   sequence: every replica that applies the same log ends with the same keys.
//!   No wall clock, no randomness, no iteration over unordered maps decides
//!   anything that is written.
//! - The in-memory stream table mirrors the `S` records; it is rebuilt from
//!   them on open, never from the entries.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use balsa_model::read::ChunkStats;
use balsa_model::{
    Direction, Entry, LabelPair, Labels, LineHint, ReadError, Skipped, StreamId, StreamReader, StreamRef,
};

use crate::chunk::{self, ChunkMeta};
use crate::codec::{self, decode_entry, encode_entry, entry_hash};
use crate::command::{
    AdoptChunk, ApplyOutcome, ChunkUploaded, DeleteHeadEntries, DeleteRequest, DeleteRequestChange, DeleteRequestOp,
    Expire, Pair, Push, RecordChange, RecordOp, RewriteChunk, ShardCommand, shard_command,
};
use crate::config::IngesterConfig;
use crate::error::{Result, StorageError};
use crate::keys;
use crate::kv::{KvRead, Overlay, WriteBatch};
use crate::tier::ColdChunks;

/// At most how often (in shard time) the shard looks for idle head chunks.
const IDLE_CHECK_INTERVAL_NS: i64 = 60_000_000_000;

/// A stream's persistent record (`S` key).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamRecord {
    #[prost(string, tag = "1")]
    pub tenant: String,
    #[prost(message, repeated, tag = "2")]
    pub labels: Vec<Pair>,
    #[prost(int64, tag = "3")]
    pub min_ts: i64,
    #[prost(int64, tag = "4")]
    pub max_ts: i64,
    #[prost(int64, tag = "5")]
    pub head_first_ts: i64,
    #[prost(int64, tag = "6")]
    pub head_last_ts: i64,
    #[prost(uint64, tag = "7")]
    pub head_bytes: u64,
    #[prost(uint64, tag = "8")]
    pub head_entries: u64,
    #[prost(uint32, tag = "9")]
    pub chunk_seq: u32,
    #[prost(uint64, tag = "10")]
    pub chunks: u64,
}

/// The shard-wide record, kept under the `S` kind with stream id 0 is avoided:
/// the shard clock lives in memory and is recomputed from stream records.
#[derive(Clone, Debug)]
struct StreamState {
    labels: Labels,
    record: StreamRecord,
}

/// Stream ids by (tenant, label name, label value): narrows selectors with
/// `=` matchers before their predicate runs.
type Postings = HashMap<(String, String, String), Vec<StreamId>>;

#[derive(Default, Debug)]
struct ShardState {
    streams: HashMap<StreamId, StreamState>,
    postings: Postings,
    /// Newest entry (or `Tick`) time applied to this shard: the only clock
    /// apply uses. Persisted under the `K` key.
    clock_ns: i64,
}

/// Figures about a shard for metrics and status pages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub streams: u64,
    pub head_entries: u64,
    pub head_bytes: u64,
    pub chunks: u64,
}

pub struct Shard {
    id: u32,
    config: IngesterConfig,
    state: RwLock<ShardState>,
}

/// The result of [`Shard::apply`]: writes to persist, then [`Shard::commit`].
pub struct PendingApply {
    pub batch: WriteBatch,
    pub outcomes: Vec<ApplyOutcome>,
    streams: BTreeMap<StreamId, Option<StreamState>>,
    clock_ns: i64,
}

impl Shard {
    /// Loads the stream table of `shard` from its `S` records.
    pub fn open(id: u32, config: IngesterConfig, kv: &dyn KvRead) -> Result<Self> {
        let shard = Self { id, config, state: RwLock::new(ShardState::default()) };
        shard.reload(kv)?;
        Ok(shard)
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Rebuilds the in-memory table, e.g. after a snapshot was installed.
    pub fn reload(&self, kv: &dyn KvRead) -> Result<()> {
        let mut streams = HashMap::new();
        let mut clock_ns = i64::MIN;
        let mut err = None;
        kv.scan(
            &keys::kind_prefix(self.id, keys::STREAM),
            &keys::kind_end(self.id, keys::STREAM),
            false,
            &mut |k, v| match <StreamRecord as prost::Message>::decode(v) {
                Ok(record) => {
                    clock_ns = clock_ns.max(record.max_ts);
                    let labels = Labels::new(record.labels.iter().map(LabelPair::from).collect());
                    streams.insert(keys::stream_id_of(k), StreamState { labels, record });
                    true
                }
                Err(e) => {
                    err = Some(StorageError::corrupt(format!("stream record of shard {}: {e}", self.id)));
                    false
                }
            },
        )?;
        if let Some(e) = err {
            return Err(e);
        }
        let mut postings = Postings::new();
        for (id, st) in &streams {
            index_stream(&mut postings, *id, st);
        }
        let mut state = self.state.write().expect("shard state lock");
        state.streams = streams;
        state.postings = postings;
        let persisted = match kv.get(&keys::clock(self.id))? {
            Some(v) if v.len() == 8 => i64::from_be_bytes(v.as_slice().try_into().expect("8 bytes")),
            _ => i64::MIN,
        };
        let clock_ns = clock_ns.max(persisted);
        state.clock_ns = if clock_ns == i64::MIN { 0 } else { clock_ns };
        Ok(())
    }

    pub fn stats(&self) -> ShardStats {
        let state = self.state.read().expect("shard state lock");
        let mut s = ShardStats { streams: state.streams.len() as u64, ..Default::default() };
        for st in state.streams.values() {
            s.head_entries += st.record.head_entries;
            s.head_bytes += st.record.head_bytes;
            s.chunks += st.record.chunks;
        }
        s
    }

    /// Applies commands in order against `kv` (the shard's current data).
    /// Nothing changes until the returned batch is written and [`commit`]ed.
    ///
    /// [`commit`]: Shard::commit
    pub fn apply(&self, kv: &dyn KvRead, commands: &[ShardCommand]) -> Result<PendingApply> {
        let state = self.state.read().expect("shard state lock");
        let mut work = ApplyWork {
            shard: self,
            overlay: Overlay::new(kv),
            base: &state.streams,
            touched: BTreeMap::new(),
            clock_ns: state.clock_ns,
        };
        let mut outcomes = Vec::with_capacity(commands.len());
        let idle_check = IDLE_CHECK_INTERVAL_NS.min(self.config.chunk_idle_period.as_nanos_i64()).max(1);
        for cmd in commands {
            let before = work.clock_ns;
            let outcome = match &cmd.kind {
                Some(shard_command::Kind::Push(push)) => work.push(push)?,
                Some(shard_command::Kind::ChunkUploaded(up)) => work.chunk_uploaded(up)?,
                Some(shard_command::Kind::AdoptChunk(adopt)) => work.adopt_chunk(adopt)?,
                Some(shard_command::Kind::Expire(expire)) => work.expire(expire)?,
                Some(shard_command::Kind::DeleteRequest(change)) => work.delete_request(change)?,
                Some(shard_command::Kind::RewriteChunk(rewrite)) => work.rewrite_chunk(rewrite)?,
                Some(shard_command::Kind::DeleteHeadEntries(delete)) => work.delete_head_entries(delete)?,
                Some(shard_command::Kind::AdoptionDone(_)) => {
                    work.overlay.put(keys::adopted(self.id), Vec::new());
                    ApplyOutcome::default()
                }
                Some(shard_command::Kind::Record(change)) => work.record(change)?,
                Some(shard_command::Kind::Tick(tick)) => {
                    work.clock_ns = work.clock_ns.max(tick.now_ns);
                    ApplyOutcome::default()
                }
                None => ApplyOutcome::default(),
            };
            outcomes.push(outcome);
            // Idle heads are looked at whenever the shard clock crosses a
            // multiple of the check interval: a function of the command
            // sequence only, however replicas batch their applies.
            if before.div_euclid(idle_check) != work.clock_ns.div_euclid(idle_check) {
                work.seal_idle()?;
            }
        }
        let clock_ns = work.clock_ns;
        let streams = work.touched;
        let mut overlay = work.overlay;
        if clock_ns != state.clock_ns {
            overlay.put(keys::clock(self.id), clock_ns.to_be_bytes().to_vec());
        }
        for (id, st) in &streams {
            match st {
                Some(st) => overlay.put(keys::stream(self.id, *id), prost::Message::encode_to_vec(&st.record)),
                None => overlay.delete(keys::stream(self.id, *id)),
            }
        }
        Ok(PendingApply { batch: overlay.into_batch(), outcomes, streams, clock_ns })
    }

    /// Makes an applied batch visible to readers once it has been written.
    pub fn commit(&self, pending: PendingApply) -> Vec<ApplyOutcome> {
        let mut state = self.state.write().expect("shard state lock");
        for (id, st) in pending.streams {
            match st {
                Some(st) => {
                    if !state.streams.contains_key(&id) {
                        index_stream(&mut state.postings, id, &st);
                    }
                    state.streams.insert(id, st);
                }
                None => {
                    if let Some(old) = state.streams.remove(&id) {
                        unindex_stream(&mut state.postings, id, &old);
                    }
                }
            }
        }
        state.clock_ns = pending.clock_ns;
        pending.outcomes
    }

    /// The shard clock: the newest entry or `Tick` time applied.
    pub fn clock_ns(&self) -> i64 {
        self.state.read().expect("shard state lock").clock_ns
    }

    /// Every stream as (id, tenant, labels, oldest entry time), for
    /// retention, which runs next to the group leader.
    pub fn stream_summaries(&self) -> Vec<(StreamId, String, Labels, i64)> {
        let state = self.state.read().expect("shard state lock");
        let mut out: Vec<_> = state
            .streams
            .iter()
            .map(|(id, st)| (*id, st.record.tenant.clone(), st.labels.clone(), st.record.min_ts))
            .collect();
        out.sort_unstable_by_key(|s| s.0);
        out
    }

    /// Whether [`ShardCommand::expire`] with `before_ns` would drop anything
    /// of `stream`: a head entry or a whole chunk older than the cut-off.
    pub fn has_expired(&self, kv: &dyn KvRead, stream: StreamId, before_ns: i64) -> Result<bool> {
        let record = {
            let state = self.state.read().expect("shard state lock");
            match state.streams.get(&stream) {
                Some(st) => st.record.clone(),
                None => return Ok(false),
            }
        };
        if record.min_ts >= before_ns {
            return Ok(false);
        }
        if record.head_entries > 0 && record.head_first_ts < before_ns {
            return Ok(true);
        }
        let (lo, _) = keys::stream_kind_range(self.id, keys::CHUNK_META, stream);
        let mut hi = lo.clone();
        hi.extend_from_slice(&keys::encode_ts(before_ns));
        let mut expired = false;
        crate::kv::scan_messages(kv, &lo, &hi, &mut |_, meta: ChunkMeta| {
            expired = meta.max_ts < before_ns;
            !expired
        })?;
        Ok(expired)
    }

    /// The cold chunks of `stream` that [`ShardCommand::expire`] with
    /// `before_ns` would drop, as tombstones (retention writes them to the
    /// bucket first, so a recovery from the bucket does not bring them back).
    pub fn expiring_cold_chunks(
        &self,
        kv: &dyn KvRead,
        stream: StreamId,
        before_ns: i64,
    ) -> Result<Vec<crate::tier::Tombstone>> {
        let (lo, _) = keys::stream_kind_range(self.id, keys::CHUNK_META, stream);
        let mut hi = lo.clone();
        hi.extend_from_slice(&keys::encode_ts(before_ns));
        let mut out = Vec::new();
        crate::kv::scan_messages(kv, &lo, &hi, &mut |k, meta: ChunkMeta| {
            if meta.max_ts < before_ns && !meta.object.is_empty() {
                let (_, key_min_ts, seq) = keys::chunk_id_of(k);
                out.push(crate::tier::Tombstone { stream_id: stream, key_min_ts, seq, generation: meta.generation });
            }
            true
        })?;
        Ok(out)
    }

    /// A reader over this shard's data in `kv`.
    pub fn reader(self: &Arc<Self>, kv: Arc<dyn KvRead>) -> ShardReader {
        ShardReader { shard: Arc::clone(self), kv, cold: None }
    }
}

fn index_stream(postings: &mut Postings, id: StreamId, st: &StreamState) {
    for p in st.labels.iter() {
        postings.entry((st.record.tenant.clone(), p.name.clone(), p.value.clone())).or_default().push(id);
    }
}

fn unindex_stream(postings: &mut Postings, id: StreamId, st: &StreamState) {
    for p in st.labels.iter() {
        let key = (st.record.tenant.clone(), p.name.clone(), p.value.clone());
        if let Some(ids) = postings.get_mut(&key) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                postings.remove(&key);
            }
        }
    }
}

struct ApplyWork<'a> {
    shard: &'a Shard,
    overlay: Overlay<'a>,
    base: &'a HashMap<StreamId, StreamState>,
    touched: BTreeMap<StreamId, Option<StreamState>>,
    clock_ns: i64,
}

impl ApplyWork<'_> {
    fn stream(&self, id: StreamId) -> Option<StreamState> {
        match self.touched.get(&id) {
            Some(st) => st.clone(),
            None => self.base.get(&id).cloned(),
        }
    }

    fn push(&mut self, push: &Push) -> Result<ApplyOutcome> {
        let mut outcome = ApplyOutcome::default();
        let shard_id = self.shard.id;
        for stream in &push.streams {
            let labels = stream.labels();
            let id = balsa_model::stream_id(&push.tenant, &labels);
            let mut st = self.stream(id).unwrap_or_else(|| StreamState {
                record: StreamRecord {
                    tenant: push.tenant.clone(),
                    labels: stream.labels.clone(),
                    min_ts: i64::MAX,
                    max_ts: i64::MIN,
                    head_first_ts: i64::MAX,
                    head_last_ts: i64::MIN,
                    ..Default::default()
                },
                labels: labels.clone(),
            });
            let mut rejected = Vec::new();
            for rec in &stream.entries {
                let newest = st.record.max_ts;
                let floor = if st.record.max_ts == i64::MIN {
                    i64::MIN
                } else if push.unordered_writes {
                    newest.saturating_sub(push.out_of_order_window_ns)
                } else {
                    newest
                };
                if rec.ts_ns < floor {
                    rejected.push((rec.ts_ns, floor));
                    continue;
                }
                let entry = rec.to_entry();
                let key = keys::head_entry(shard_id, id, entry.ts_ns, entry_hash(&entry));
                if self.overlay.get(&key)?.is_some() {
                    // Identical (stream, timestamp, line): stored once.
                    outcome.accepted += 1;
                    continue;
                }
                let mut value = Vec::with_capacity(entry.line.len() + 16);
                encode_entry(&mut value, &entry);
                self.overlay.put(key, value);
                let r = &mut st.record;
                r.min_ts = r.min_ts.min(entry.ts_ns);
                r.max_ts = r.max_ts.max(entry.ts_ns);
                r.head_first_ts = r.head_first_ts.min(entry.ts_ns);
                r.head_last_ts = r.head_last_ts.max(entry.ts_ns);
                r.head_bytes += entry.size() as u64;
                r.head_entries += 1;
                self.clock_ns = self.clock_ns.max(entry.ts_ns);
                outcome.accepted += 1;
                if self.needs_seal(&st.record) {
                    self.seal(id, &mut st)?;
                }
            }
            if !rejected.is_empty() {
                outcome.rejected.push(out_of_order_message(&push.tenant, &labels, &rejected, stream.entries.len()));
            }
            if st.record.max_ts != i64::MIN {
                self.touched.insert(id, Some(st));
            }
        }
        Ok(outcome)
    }

    fn needs_seal(&self, r: &StreamRecord) -> bool {
        let cfg = &self.shard.config;
        r.head_entries > 0
            && (r.head_bytes >= cfg.chunk_target_size.0
                || r.head_last_ts.saturating_sub(r.head_first_ts) >= cfg.max_chunk_age.as_nanos_i64())
    }

    /// Seals every head chunk that saw no entry for `chunk_idle_period` of
    /// shard time. Streams are visited in id order so replicas agree.
    fn seal_idle(&mut self) -> Result<()> {
        let idle = self.shard.config.chunk_idle_period.as_nanos_i64();
        let mut ids: Vec<StreamId> = self.base.keys().chain(self.touched.keys()).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let Some(mut st) = self.stream(id) else { continue };
            if st.record.head_entries > 0 && self.clock_ns.saturating_sub(st.record.head_last_ts) >= idle {
                self.seal(id, &mut st)?;
                self.touched.insert(id, Some(st));
            }
        }
        Ok(())
    }

    /// Records that a sealed chunk is in the object store and drops the
    /// local bytes. Idempotent; a chunk deleted meanwhile stays deleted (its
    /// object is an orphan for the sweep).
    fn chunk_uploaded(&mut self, up: &ChunkUploaded) -> Result<ApplyOutcome> {
        let shard = self.shard.id;
        self.overlay.delete(keys::upload_pending(shard, up.stream_id, up.min_ts, up.seq));
        let meta_key = keys::chunk_meta(shard, up.stream_id, up.min_ts, up.seq);
        if let Some(bytes) = self.overlay.get(&meta_key)? {
            let mut meta = <ChunkMeta as prost::Message>::decode(bytes.as_slice())?;
            if meta.object.is_empty() && !up.object.is_empty() {
                meta.object = up.object.clone();
                meta.data_offset = up.data_offset;
                self.overlay.put(meta_key.clone(), prost::Message::encode_to_vec(&meta));
                self.overlay.delete(keys::data_key_for_meta(&meta_key));
            }
        }
        Ok(ApplyOutcome { accepted: 1, rejected: Vec::new() })
    }

    /// Adds, cancels or marks processed a delete request. A cancel of an
    /// unknown or processed request is reported in `rejected`.
    fn delete_request(&mut self, change: &DeleteRequestChange) -> Result<ApplyOutcome> {
        let Some(req) = &change.request else {
            return Ok(ApplyOutcome::default());
        };
        let key = keys::delete_request(self.shard.id, &req.tenant, &req.request_id);
        let existing = match self.overlay.get(&key)? {
            Some(v) => Some(<DeleteRequest as prost::Message>::decode(v.as_slice())?),
            None => None,
        };
        let mut outcome = ApplyOutcome::default();
        match DeleteRequestOp::try_from(change.op) {
            Ok(DeleteRequestOp::Add) => {
                if existing.is_none() {
                    self.overlay.put(key, prost::Message::encode_to_vec(req));
                }
                outcome.accepted = 1;
            }
            Ok(DeleteRequestOp::Cancel) => match existing {
                Some(r) if !r.processed => {
                    self.overlay.delete(key);
                    outcome.accepted = 1;
                }
                Some(_) => outcome
                    .rejected
                    .push("deletion of request which is in process or already processed is not allowed".into()),
                None => outcome.rejected.push("could not find delete request with given id".into()),
            },
            Ok(DeleteRequestOp::MarkProcessed) => {
                if let Some(mut r) = existing {
                    r.processed = true;
                    self.overlay.put(key, prost::Message::encode_to_vec(&r));
                    outcome.accepted = 1;
                }
            }
            Err(_) => {}
        }
        Ok(outcome)
    }

    /// Puts or deletes a record of a component above storage.
    fn record(&mut self, change: &RecordChange) -> Result<ApplyOutcome> {
        let shard = self.shard.id;
        let key = keys::record(shard, &change.space, &change.key);
        match RecordOp::try_from(change.op) {
            Ok(RecordOp::Put) => {
                if change.if_absent && self.overlay.get(&key)?.is_some() {
                    return Ok(ApplyOutcome { accepted: 0, rejected: vec!["record exists".into()] });
                }
                self.overlay.put(key, change.value.clone());
            }
            Ok(RecordOp::Delete) => self.overlay.delete(key),
            Ok(RecordOp::DeletePrefix) => {
                let end = keys::record_prefix_end(shard, &change.space, &change.key);
                let mut doomed = Vec::new();
                self.overlay.scan(&key, &end, false, &mut |k, _| {
                    doomed.push(k.to_vec());
                    true
                })?;
                for k in doomed {
                    self.overlay.delete(k);
                }
            }
            Err(_) => return Ok(ApplyOutcome::default()),
        }
        Ok(ApplyOutcome { accepted: 1, rejected: Vec::new() })
    }

    /// Replaces a chunk's entries, if the chunk is still as the plan saw it.
    fn rewrite_chunk(&mut self, r: &RewriteChunk) -> Result<ApplyOutcome> {
        let meta_key = keys::chunk_meta(self.shard.id, r.stream_id, r.min_ts, r.seq);
        let Some(old) = self.overlay.get(&meta_key)? else {
            return Ok(ApplyOutcome::default());
        };
        let old = <ChunkMeta as prost::Message>::decode(old.as_slice())?;
        if old.object != r.expect_object || old.entries != r.expect_entries || old.generation != r.expect_generation {
            return Ok(ApplyOutcome::default());
        }
        let Some(mut st) = self.stream(r.stream_id) else {
            return Ok(ApplyOutcome::default());
        };
        let data_key = keys::data_key_for_meta(&meta_key);
        let upload_key = keys::with_kind_of(&meta_key, keys::UPLOAD_PENDING);
        let removed = match &r.meta {
            Some(meta) if meta.entries > 0 => {
                let mut meta = meta.clone();
                meta.object.clear();
                meta.data_offset = 0;
                meta.generation = old.generation.wrapping_add(1);
                let removed = old.entries.saturating_sub(meta.entries);
                self.overlay.put(meta_key, prost::Message::encode_to_vec(&meta));
                self.overlay.put(data_key, r.data.clone());
                self.overlay.put(upload_key, Vec::new());
                removed
            }
            _ => {
                self.overlay.delete(meta_key);
                self.overlay.delete(data_key);
                self.overlay.delete(upload_key);
                st.record.chunks = st.record.chunks.saturating_sub(1);
                old.entries
            }
        };
        self.settle(r.stream_id, st);
        Ok(ApplyOutcome { accepted: removed as u64, rejected: Vec::new() })
    }

    /// Deletes the given head entries of a stream.
    fn delete_head_entries(&mut self, d: &DeleteHeadEntries) -> Result<ApplyOutcome> {
        let shard = self.shard.id;
        let Some(mut st) = self.stream(d.stream_id) else {
            return Ok(ApplyOutcome::default());
        };
        let mut removed = 0;
        for (ts, hash) in d.ts_ns.iter().zip(&d.hashes) {
            let key = keys::head_entry(shard, d.stream_id, *ts, *hash);
            if let Some(v) = self.overlay.get(&key)? {
                let size = decode_entry(&v, &mut 0)?.size() as u64;
                self.overlay.delete(key);
                let r = &mut st.record;
                r.head_entries = r.head_entries.saturating_sub(1);
                r.head_bytes = r.head_bytes.saturating_sub(size);
                removed += 1;
            }
        }
        if removed == 0 {
            return Ok(ApplyOutcome::default());
        }
        // The head's time span, from what is left.
        let (lo, hi) = keys::head_range(shard, d.stream_id, i64::MIN, i64::MAX);
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        self.overlay.scan(&lo, &hi, false, &mut |k, _| {
            let ts = keys::head_ts_of(k);
            first = first.min(ts);
            last = last.max(ts);
            true
        })?;
        st.record.head_first_ts = first;
        st.record.head_last_ts = last;
        self.settle(d.stream_id, st);
        Ok(ApplyOutcome { accepted: removed, rejected: Vec::new() })
    }

    /// Keeps a stream that still holds data, or removes it.
    fn settle(&mut self, id: StreamId, st: StreamState) {
        if st.record.chunks == 0 && st.record.head_entries == 0 {
            self.touched.insert(id, None);
        } else {
            self.touched.insert(id, Some(st));
        }
    }

    /// Retention for one stream; see [`Expire`].
    fn expire(&mut self, expire: &Expire) -> Result<ApplyOutcome> {
        let shard = self.shard.id;
        let id = expire.stream_id;
        let Some(mut st) = self.stream(id) else {
            return Ok(ApplyOutcome::default());
        };
        let mut dropped = 0u64;
        // Chunks, oldest first: drop those that end before the cut-off.
        let (lo, hi) = keys::stream_kind_range(shard, keys::CHUNK_META, id);
        let mut metas = Vec::new();
        self.overlay.scan(&lo, &hi, false, &mut |k, v| {
            metas.push((k.to_vec(), v.to_vec()));
            true
        })?;
        let mut oldest_kept = i64::MAX;
        for (key, value) in metas {
            let meta = <ChunkMeta as prost::Message>::decode(value.as_slice())?;
            if meta.max_ts < expire.before_ns {
                self.overlay.delete(keys::with_kind_of(&key, keys::CHUNK_DATA));
                self.overlay.delete(keys::with_kind_of(&key, keys::UPLOAD_PENDING));
                self.overlay.delete(key);
                st.record.chunks = st.record.chunks.saturating_sub(1);
                dropped += meta.entries as u64;
            } else {
                oldest_kept = oldest_kept.min(meta.min_ts);
            }
        }
        // Head entries older than the cut-off.
        if st.record.head_entries > 0 && st.record.head_first_ts < expire.before_ns {
            let (lo, hi) = keys::head_range(shard, id, i64::MIN, i64::MAX);
            let mut head = Vec::new();
            self.overlay.scan(&lo, &hi, false, &mut |k, v| {
                head.push((k.to_vec(), v.to_vec()));
                true
            })?;
            let r = &mut st.record;
            r.head_entries = 0;
            r.head_bytes = 0;
            r.head_first_ts = i64::MAX;
            r.head_last_ts = i64::MIN;
            for (key, value) in head {
                let ts = keys::head_ts_of(&key);
                let len = decode_entry(&value, &mut 0)?.size() as u64;
                if ts < expire.before_ns {
                    self.overlay.delete(key);
                    dropped += 1;
                } else {
                    r.head_entries += 1;
                    r.head_bytes += len;
                    r.head_first_ts = r.head_first_ts.min(ts);
                    r.head_last_ts = r.head_last_ts.max(ts);
                }
            }
        }
        if dropped == 0 {
            return Ok(ApplyOutcome::default());
        }
        let r = &mut st.record;
        r.min_ts = oldest_kept.min(if r.head_entries > 0 { r.head_first_ts } else { i64::MAX });
        // With nothing left the stream goes away (its id comes back if it is pushed to again).
        self.settle(id, st);
        Ok(ApplyOutcome { accepted: dropped, rejected: Vec::new() })
    }

    /// Adds a chunk that only the object store holds; creates its stream if
    /// needed. Idempotent.
    fn adopt_chunk(&mut self, adopt: &AdoptChunk) -> Result<ApplyOutcome> {
        let Some(meta) = adopt.meta.as_ref().filter(|m| !m.object.is_empty() && m.entries > 0) else {
            return Ok(ApplyOutcome::default());
        };
        let labels = Labels::new(adopt.labels.iter().map(LabelPair::from).collect());
        let id = balsa_model::stream_id(&adopt.tenant, &labels);
        let meta_key = keys::chunk_meta(self.shard.id, id, adopt.key_min_ts.unwrap_or(meta.min_ts), adopt.seq);
        let replaces = match self.overlay.get(&meta_key)? {
            // The bucket can hold several copies of a rewritten chunk: the
            // newest generation wins, whatever order they are adopted in.
            Some(existing) => {
                let existing = <ChunkMeta as prost::Message>::decode(existing.as_slice())?;
                if existing.generation >= meta.generation {
                    return Ok(ApplyOutcome::default());
                }
                self.overlay.delete(keys::data_key_for_meta(&meta_key));
                self.overlay.delete(keys::with_kind_of(&meta_key, keys::UPLOAD_PENDING));
                true
            }
            None => false,
        };
        let mut st = self.stream(id).unwrap_or_else(|| StreamState {
            record: StreamRecord {
                tenant: adopt.tenant.clone(),
                labels: adopt.labels.clone(),
                min_ts: i64::MAX,
                max_ts: i64::MIN,
                head_first_ts: i64::MAX,
                head_last_ts: i64::MIN,
                ..Default::default()
            },
            labels,
        });
        let r = &mut st.record;
        r.min_ts = r.min_ts.min(meta.min_ts);
        r.max_ts = r.max_ts.max(meta.max_ts);
        if !replaces {
            r.chunks += 1;
        }
        r.chunk_seq = r.chunk_seq.max(adopt.seq.saturating_add(1));
        // The clock is the newest entry time a shard holds, as after a reload.
        self.clock_ns = self.clock_ns.max(meta.max_ts);
        self.overlay.put(meta_key, prost::Message::encode_to_vec(meta));
        self.touched.insert(id, Some(st));
        Ok(ApplyOutcome { accepted: meta.entries as u64, rejected: Vec::new() })
    }

    /// Cuts the stream's head entries into a sealed chunk.
    fn seal(&mut self, id: StreamId, st: &mut StreamState) -> Result<()> {
        let shard_id = self.shard.id;
        let (lo, hi) = keys::stream_kind_range(shard_id, keys::HEAD, id);
        let mut entries = Vec::with_capacity(st.record.head_entries as usize);
        let mut head_keys = Vec::with_capacity(st.record.head_entries as usize);
        let mut err = None;
        self.overlay.scan(&lo, &hi, false, &mut |k, v| {
            match decode_entry(v, &mut 0) {
                Ok(e) => entries.push(e),
                Err(e) => {
                    err = Some(e);
                    return false;
                }
            }
            head_keys.push(k.to_vec());
            true
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        if entries.is_empty() {
            return Ok(());
        }
        let (meta, data) = chunk::encode(&entries, self.shard.config.chunk_block_size.as_usize());
        let seq = st.record.chunk_seq;
        self.overlay.put(keys::chunk_meta(shard_id, id, meta.min_ts, seq), prost::Message::encode_to_vec(&meta));
        self.overlay.put(keys::chunk_data(shard_id, id, meta.min_ts, seq), data);
        self.overlay.put(keys::upload_pending(shard_id, id, meta.min_ts, seq), Vec::new());
        for k in head_keys {
            self.overlay.delete(k);
        }
        let r = &mut st.record;
        r.chunk_seq = seq.wrapping_add(1);
        r.chunks += 1;
        r.head_bytes = 0;
        r.head_entries = 0;
        r.head_first_ts = i64::MAX;
        r.head_last_ts = i64::MIN;
        tracing::debug!(
            shard = shard_id,
            stream = id,
            entries = meta.entries,
            blocks = meta.blocks.len(),
            "sealed chunk"
        );
        Ok(())
    }
}

/// Loki's message for entries rejected by the out-of-order window.
fn out_of_order_message(tenant: &str, labels: &Labels, rejected: &[(i64, i64)], total: usize) -> String {
    let mut msg = String::new();
    for (ts, floor) in rejected {
        let ts = balsa_model::timefmt::go_time_string(*ts);
        msg.push_str(&format!(
            "entry with timestamp {ts} ignored, reason: 'entry too far behind, entry timestamp is: {ts}, oldest acceptable timestamp is: {}',\n",
            balsa_model::timefmt::go_time_string(*floor)
        ));
    }
    msg.push_str(&format!("user '{tenant}', total ignored: {} out of {total} for stream: {labels}", rejected.len()));
    msg
}

/// The candidates with data overlapping `[start_ns, end_ns]` that `select` accepts.
fn selected<'a>(
    candidates: impl Iterator<Item = (&'a StreamId, &'a StreamState)>,
    start_ns: i64,
    end_ns: i64,
    select: &mut dyn FnMut(&Labels) -> bool,
) -> Vec<StreamRef> {
    candidates
        .filter(|(_, st)| st.record.min_ts <= end_ns && st.record.max_ts >= start_ns)
        .filter(|(_, st)| select(&st.labels))
        .map(|(id, st)| StreamRef { id: *id, labels: st.labels.clone() })
        .collect()
}

/// Reads one shard replica's data.
pub struct ShardReader {
    shard: Arc<Shard>,
    kv: Arc<dyn KvRead>,
    cold: Option<Arc<dyn ColdChunks>>,
}

/// Where a sealed chunk's data is: under its meta key's data key, or (when
/// `object` is set) in the object store at `data_offset` of that object.
struct ChunkLoc {
    meta_key: Vec<u8>,
    object: String,
    data_offset: u64,
    /// Bytes of chunk data (the sum of its blocks).
    len: u64,
}

/// A time-bounded piece of a stream: a sealed block, or the head chunk.
struct Source {
    min: i64,
    max: i64,
    block: Option<(Arc<ChunkLoc>, chunk::BlockMeta)>,
}

/// The data of the chunk a reader is in, shared with the cold cache.
struct ChunkBytes {
    meta_key: Vec<u8>,
    bytes: Arc<Vec<u8>>,
    offset: usize,
}

impl ChunkBytes {
    fn data(&self) -> &[u8] {
        &self.bytes[self.offset..]
    }
}

impl ShardReader {
    /// The delete requests kept in this shard (shard 0 holds them), in key
    /// order (by tenant, then request id).
    pub fn delete_requests(&self) -> Result<Vec<DeleteRequest>> {
        let shard = self.shard.id;
        let (lo, hi) = (keys::kind_prefix(shard, keys::DELETE_REQUEST), keys::kind_end(shard, keys::DELETE_REQUEST));
        let mut out = Vec::new();
        crate::kv::scan_messages(self.kv.as_ref(), &lo, &hi, &mut |_, r: DeleteRequest| {
            out.push(r);
            true
        })?;
        Ok(out)
    }

    /// The records of `space` whose key starts with `prefix`, in key order,
    /// as `(key, value)`.
    pub fn records(&self, space: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let shard = self.shard.id;
        let lo = keys::record(shard, space, prefix);
        let hi = keys::record_prefix_end(shard, space, prefix);
        let skip = keys::record(shard, space, "").len();
        let mut out = Vec::new();
        self.kv.scan(&lo, &hi, false, &mut |k, v| {
            out.push((String::from_utf8_lossy(&k[skip..]).into_owned(), v.to_vec()));
            true
        })?;
        Ok(out)
    }

    /// The commands that delete, from `stream`, the entries with
    /// `start_ns <= ts <= end_ns` that `matches` accepts: a rewrite of every
    /// sealed chunk holding one (local or cold), and the head entries.
    pub fn plan_deletion(
        &self,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
        matches: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<Vec<ShardCommand>> {
        let shard = self.shard.id;
        let in_range = |e: &Entry| e.ts_ns >= start_ns && e.ts_ns <= end_ns;
        let mut commands = Vec::new();
        let (lo, _) = keys::stream_kind_range(shard, keys::CHUNK_META, stream);
        let mut hi = lo.clone();
        hi.extend_from_slice(&keys::encode_ts(end_ns.saturating_add(1)));
        let mut chunks = Vec::new();
        self.kv.scan(&lo, &hi, false, &mut |k, v| {
            chunks.push((k.to_vec(), v.to_vec()));
            true
        })?;
        for (key, value) in chunks {
            let meta = <ChunkMeta as prost::Message>::decode(value.as_slice())?;
            if meta.max_ts < start_ns {
                continue;
            }
            let loc = ChunkLoc {
                meta_key: key.clone(),
                object: meta.object.clone(),
                data_offset: meta.data_offset,
                len: meta.compressed(),
            };
            let Some(bytes) = self.load_chunk(&loc)? else { continue };
            let mut entries = Vec::with_capacity(meta.entries as usize);
            for block in &meta.blocks {
                entries.extend(chunk::decode_block(bytes.data(), block)?);
            }
            let before = entries.len();
            entries.retain(|e| !(in_range(e) && matches(e)));
            if entries.len() == before {
                continue;
            }
            let (_, min_ts, seq) = keys::chunk_id_of(&key);
            let (new_meta, data) = if entries.is_empty() {
                (None, Vec::new())
            } else {
                let (m, d) = chunk::encode(&entries, self.shard.config.chunk_block_size.as_usize());
                (Some(m), d)
            };
            commands.push(ShardCommand::rewrite_chunk(RewriteChunk {
                stream_id: stream,
                min_ts,
                seq,
                meta: new_meta,
                data,
                expect_object: meta.object,
                expect_entries: meta.entries,
                expect_generation: meta.generation,
            }));
        }
        let (lo, hi) = keys::head_range(shard, stream, start_ns, end_ns.saturating_add(1));
        let mut head = DeleteHeadEntries { stream_id: stream, ..Default::default() };
        let mut err = None;
        self.kv.scan(&lo, &hi, false, &mut |_, v| match decode_entry(v, &mut 0) {
            Ok(e) => {
                if matches(&e) {
                    head.ts_ns.push(e.ts_ns);
                    head.hashes.push(entry_hash(&e));
                }
                true
            }
            Err(e) => {
                err = Some(e);
                false
            }
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        if !head.ts_ns.is_empty() {
            commands.push(ShardCommand::delete_head_entries(head));
        }
        Ok(commands)
    }

    /// Reads chunks that were moved to the object store through `cold`.
    pub fn with_cold(mut self, cold: Option<Arc<dyn ColdChunks>>) -> Self {
        self.cold = cold;
        self
    }

    fn stream_sources(&self, id: StreamId, rec: &StreamRecord, start: i64, end: i64) -> Result<Vec<Source>> {
        let shard = self.shard.id;
        let mut sources = Vec::new();
        let (lo, _) = keys::stream_kind_range(shard, keys::CHUNK_META, id);
        let mut hi = lo.clone();
        hi.extend_from_slice(&keys::encode_ts(end));
        let mut err = None;
        self.kv.scan(&lo, &hi, false, &mut |k, v| {
            match <ChunkMeta as prost::Message>::decode(v) {
                Ok(meta) if meta.max_ts >= start => {
                    let len = meta.compressed();
                    let loc = Arc::new(ChunkLoc {
                        meta_key: k.to_vec(),
                        object: meta.object,
                        data_offset: meta.data_offset,
                        len,
                    });
                    for b in meta.blocks {
                        if b.max_ts >= start && b.min_ts < end {
                            sources.push(Source { min: b.min_ts, max: b.max_ts, block: Some((Arc::clone(&loc), b)) });
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    err = Some(StorageError::from(e));
                    return false;
                }
            }
            true
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        if rec.head_entries > 0 && rec.head_last_ts >= start && rec.head_first_ts < end {
            sources.push(Source { min: rec.head_first_ts.max(start), max: rec.head_last_ts.min(end - 1), block: None });
        }
        sources.sort_by_key(|s| (s.min, s.max));
        Ok(sources)
    }

    /// The data of the chunk at `loc`, from `cache` when it already holds
    /// it; `None` when the chunk was deleted since its meta was read.
    fn chunk_data<'c>(&self, loc: &ChunkLoc, cache: &'c mut Option<ChunkBytes>) -> Result<Option<&'c [u8]>> {
        if cache.as_ref().is_none_or(|c| c.meta_key != loc.meta_key) {
            *cache = self.load_chunk(loc)?;
        }
        Ok(cache.as_ref().map(ChunkBytes::data))
    }

    fn load_chunk(&self, loc: &ChunkLoc) -> Result<Option<ChunkBytes>> {
        if !loc.object.is_empty() {
            return self.cold_chunk(&loc.meta_key, &loc.object, loc.data_offset, loc.len).map(Some);
        }
        if let Some(data) = self.kv.get(&keys::data_key_for_meta(&loc.meta_key))? {
            return Ok(Some(ChunkBytes { meta_key: loc.meta_key.clone(), bytes: Arc::new(data), offset: 0 }));
        }
        // The local copy went away after the meta was read: uploaded, or deleted.
        let Some(meta) = self.kv.get(&loc.meta_key)? else {
            return Ok(None);
        };
        let meta = <ChunkMeta as prost::Message>::decode(meta.as_slice())?;
        if meta.object.is_empty() {
            return Err(StorageError::corrupt("chunk data missing for its meta"));
        }
        self.cold_chunk(&loc.meta_key, &meta.object, meta.data_offset, meta.compressed()).map(Some)
    }

    /// A chunk's data from the object store: one ranged read.
    fn cold_chunk(&self, meta_key: &[u8], object: &str, data_offset: u64, len: u64) -> Result<ChunkBytes> {
        let cold = self.cold.as_ref().ok_or_else(|| {
            StorageError::unavailable(format!("chunk {object} is in object storage, but none is configured"))
        })?;
        let bytes = cold.fetch(object, data_offset, data_offset.saturating_add(len))?;
        if (bytes.len() as u64) < len {
            return Err(StorageError::corrupt(format!("chunk object {object} is shorter than its index says")));
        }
        Ok(ChunkBytes { meta_key: meta_key.to_vec(), bytes, offset: 0 })
    }

    /// Appends the entries of `src` with `start <= ts < end` to `bufs` (after
    /// its first `len`), except those `hint` rules out, which are added to
    /// `skipped` instead.
    #[allow(clippy::too_many_arguments)]
    fn load_into(
        &self,
        id: StreamId,
        src: &Source,
        (start, end): (i64, i64),
        cache: &mut Option<ChunkBytes>,
        hint: &LineHint,
        skipped: &mut Skipped,
        bufs: &mut ReadBuffers,
    ) -> Result<()> {
        let ReadBuffers { plain, entries, len } = bufs;
        match &src.block {
            Some((loc, block)) => {
                if let Some(data) = self.chunk_data(loc, cache)? {
                    chunk::decompress_block(data, block, plain)?;
                    if !hint.may_contain(plain) {
                        *skipped += chunk::count_entries(plain, block, start, end)?;
                        return Ok(());
                    }
                    let n = chunk::decode_entries_at(plain, block, entries, *len)?;
                    *len += keep_in_range(&mut entries[*len..*len + n], start, end);
                }
            }
            None => {
                let (lo, hi) = keys::head_range(self.shard.id, id, start, end);
                let mut err = None;
                self.kv.scan(&lo, &hi, false, &mut |_, v| {
                    // A head value is one encoded entry: the hint is tried on
                    // its bytes before anything is decoded.
                    let done = if hint.may_contain(v) {
                        if *len == entries.len() {
                            entries.push(Entry::new(0, String::new()));
                        }
                        codec::decode_entry_into(v, &mut 0, &mut entries[*len]).map(|()| *len += 1)
                    } else {
                        codec::entry_extent(v, &mut 0).map(|(_, size)| {
                            skipped.lines += 1;
                            skipped.bytes += size;
                        })
                    };
                    match done {
                        Ok(()) => true,
                        Err(e) => {
                            err = Some(e);
                            false
                        }
                    }
                })?;
                if let Some(e) = err {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// Moves the entries with `start <= ts < end` to the front of `entries`, in
/// order, and returns how many there are. The others are moved behind them,
/// not dropped, so their buffers stay for the next decode.
fn keep_in_range(entries: &mut [Entry], start: i64, end: i64) -> usize {
    let mut kept = 0;
    for i in 0..entries.len() {
        if entries[i].ts_ns >= start && entries[i].ts_ns < end {
            entries.swap(kept, i);
            kept += 1;
        }
    }
    kept
}

/// Buffers a thread reuses from read to read (one `entries_hinted` call per
/// stream): decoded entries keep their line allocations, so that a scan of
/// millions of lines does not allocate and free one per line.
#[derive(Default)]
struct ReadBuffers {
    /// A decompressed block.
    plain: Vec<u8>,
    /// Decoded entries; the first `len` are the current group's.
    entries: Vec<Entry>,
    len: usize,
}

/// Buffers holding more entries than this are freed after a read, not kept.
const MAX_KEPT_ENTRIES: usize = 1 << 16;

thread_local! {
    static READ_BUFFERS: std::cell::RefCell<ReadBuffers> = std::cell::RefCell::default();
}

impl ReadBuffers {
    /// This thread's buffers (new ones if a read on this thread holds them).
    fn take() -> Self {
        READ_BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()))
    }

    fn give_back(self) {
        if self.entries.len() <= MAX_KEPT_ENTRIES {
            READ_BUFFERS.with(|b| *b.borrow_mut() = self);
        }
    }
}

/// Visits entries given in ascending order in `direction`; false once
/// `visit` asks to stop.
fn visit_in<'a>(
    direction: Direction,
    mut entries: impl DoubleEndedIterator<Item = &'a Entry>,
    visit: &mut dyn FnMut(&Entry) -> bool,
) -> bool {
    match direction {
        Direction::Forward => entries.all(visit),
        Direction::Backward => entries.rev().all(visit),
    }
}

/// The order a stream's entries are read in: time, then line, then
/// structured metadata (equal entries are duplicates).
fn entry_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    a.ts_ns
        .cmp(&b.ts_ns)
        .then_with(|| a.line.cmp(&b.line))
        .then_with(|| a.structured_metadata.cmp(&b.structured_metadata))
}

impl StreamReader for ShardReader {
    fn streams(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        let state = self.shard.state.read().expect("shard state lock");
        let candidates = state.streams.iter().filter(|(_, st)| st.record.tenant == tenant);
        Ok(selected(candidates, start_ns, end_ns, select))
    }

    fn streams_with(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        required: &[(&str, &str)],
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        if required.is_empty() {
            return self.streams(tenant, start_ns, end_ns, select);
        }
        let state = self.shard.state.read().expect("shard state lock");
        // The shortest postings list among the required pairs bounds the work.
        let mut shortest: Option<&Vec<StreamId>> = None;
        for (name, value) in required {
            match state.postings.get(&(tenant.to_string(), name.to_string(), value.to_string())) {
                None => return Ok(Vec::new()),
                Some(ids) => {
                    if shortest.is_none_or(|s| ids.len() < s.len()) {
                        shortest = Some(ids);
                    }
                }
            }
        }
        let candidates = shortest.expect("required is not empty");
        let candidates = candidates.iter().filter_map(|id| state.streams.get(id).map(|st| (id, st)));
        Ok(selected(candidates, start_ns, end_ns, select))
    }

    /// Sealed blocks whose decompressed bytes the hint rules out are counted
    /// and left out without decoding their entries (one substring search per
    /// block instead of one per line).
    fn entries_hinted(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        hint: &LineHint,
        visit: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<Skipped, ReadError> {
        let mut skipped = Skipped::default();
        if start_ns >= end_ns {
            return Ok(skipped);
        }
        let record = {
            let state = self.shard.state.read().expect("shard state lock");
            match state.streams.get(&stream) {
                Some(st) if st.record.tenant == tenant => st.record.clone(),
                _ => return Ok(skipped),
            }
        };
        let sources = self.stream_sources(stream, &record, start_ns, end_ns)?;
        // Group sources whose time spans overlap: groups are disjoint in time,
        // so each can be sorted on its own and groups visited in order.
        let mut groups: Vec<Vec<Source>> = Vec::new();
        let mut group_max = i64::MIN;
        for src in sources {
            if groups.is_empty() || src.min > group_max {
                groups.push(Vec::new());
                group_max = src.max;
            } else {
                group_max = group_max.max(src.max);
            }
            groups.last_mut().expect("group pushed above").push(src);
        }
        if direction == Direction::Backward {
            groups.reverse();
        }
        let mut cache = None;
        let mut bufs = ReadBuffers::take();
        for group in groups {
            bufs.len = 0;
            for src in &group {
                self.load_into(stream, src, (start_ns, end_ns), &mut cache, hint, &mut skipped, &mut bufs)?;
            }
            // A single sealed block is usually in order already, which the
            // sort finds in one pass.
            let entries = &mut bufs.entries[..bufs.len];
            entries.sort_unstable_by(entry_order);
            // Sorted, so duplicates (the same entry in two sources) are adjacent.
            let entries = &*entries;
            let unique = entries.iter().enumerate().filter(|(i, e)| *i == 0 || entries[i - 1] != **e).map(|(_, e)| e);
            if !visit_in(direction, unique, visit) {
                break;
            }
        }
        bufs.give_back();
        Ok(skipped)
    }

    /// Sealed chunks from their `c` metas (chunk keys sort by min time, so
    /// the scan stops at `end_ns`) and the head chunk from the stream
    /// record; no chunk data is read, local or cold.
    fn chunk_stats(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<ChunkStats>, ReadError> {
        if start_ns >= end_ns {
            return Ok(Vec::new());
        }
        let record = {
            let state = self.shard.state.read().expect("shard state lock");
            match state.streams.get(&stream) {
                Some(st) if st.record.tenant == tenant => st.record.clone(),
                _ => return Ok(Vec::new()),
            }
        };
        let mut out = Vec::new();
        let (lo, _) = keys::stream_kind_range(self.shard.id, keys::CHUNK_META, stream);
        let mut hi = lo.clone();
        hi.extend_from_slice(&keys::encode_ts(end_ns));
        let mut err = None;
        self.kv.scan(&lo, &hi, false, &mut |_, v| match <ChunkMeta as prost::Message>::decode(v) {
            Ok(meta) => {
                if meta.max_ts >= start_ns && meta.min_ts < end_ns {
                    out.push(chunk_stats_of(&meta));
                }
                true
            }
            Err(e) => {
                err = Some(StorageError::from(e));
                false
            }
        })?;
        if let Some(e) = err {
            return Err(e.into());
        }
        if record.head_entries > 0 && record.head_last_ts >= start_ns && record.head_first_ts < end_ns {
            out.push(ChunkStats {
                min_ts: record.head_first_ts,
                max_ts: record.head_last_ts,
                entries: record.head_entries,
                bytes: record.head_bytes,
            });
        }
        Ok(out)
    }
}

/// A sealed chunk's statistics. Bytes are its entries' [`Entry::size`],
/// recorded per block; blocks written before that was recorded count their
/// encoded (uncompressed) size instead.
fn chunk_stats_of(meta: &ChunkMeta) -> ChunkStats {
    let bytes = meta.blocks.iter().map(|b| if b.entry_bytes > 0 { b.entry_bytes } else { b.uncompressed }).sum();
    ChunkStats { min_ts: meta.min_ts, max_ts: meta.max_ts, entries: meta.entries as u64, bytes }
}
