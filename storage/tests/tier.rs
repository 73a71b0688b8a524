//! Sealed chunks moved to an object store: the pending-upload queue, the
//! `ChunkUploaded` command and reads that span the local and cold tiers.

use std::sync::Arc;

use balsa_model::units::ByteSize;
use balsa_model::{Direction, Entry, Labels, ReadError, StreamReader};
use balsa_storage::command::{ChunkUploaded, EntryRecord, StreamEntries};
use balsa_storage::tier::{self, MemCold, MemObjectStore, ObjectStore, PendingChunk};
use balsa_storage::{ColdChunks, IngesterConfig, KvRead, KvWrite, MemKv, Push, Shard, ShardCommand, keys};

const SHARD: u32 = 5;

fn push(labels: &Labels, entries: &[(i64, String)]) -> ShardCommand {
    ShardCommand::push(Push {
        tenant: "t1".into(),
        streams: vec![StreamEntries {
            labels: labels.iter().map(Into::into).collect(),
            entries: entries
                .iter()
                .map(|(ts, line)| EntryRecord { ts_ns: *ts, line: line.clone(), structured_metadata: vec![] })
                .collect(),
        }],
        out_of_order_window_ns: i64::MAX,
        unordered_writes: true,
    })
}

fn apply(shard: &Shard, kv: &MemKv, cmds: &[ShardCommand]) {
    let pending = shard.apply(kv, cmds).unwrap();
    kv.write(pending.batch.clone()).unwrap();
    shard.commit(pending);
}

fn read(
    shard: &Arc<Shard>,
    kv: &Arc<MemKv>,
    cold: Option<Arc<dyn ColdChunks>>,
) -> Result<Vec<(i64, String)>, ReadError> {
    let reader = shard.reader(kv.clone()).with_cold(cold);
    let mut out = Vec::new();
    for s in reader.streams("t1", 0, i64::MAX, &mut |_| true)? {
        reader.entries("t1", s.id, 0, i64::MAX, Direction::Forward, &mut |e: &Entry| {
            out.push((e.ts_ns, e.line.clone()));
            true
        })?;
    }
    Ok(out)
}

/// Uploads every pending chunk the way the group leader does, and applies
/// the `ChunkUploaded` commands.
/// Packs objects of at most this many bytes of chunk data.
const TARGET: u64 = 1000;

fn upload_all(shard: &Shard, kv: &MemKv, store: &MemObjectStore) -> usize {
    let pending = tier::pending_uploads(kv, SHARD, usize::MAX).unwrap();
    let objects = tier::pack_objects(kv, SHARD, "balsa/", &pending, TARGET).unwrap();
    assert_eq!(objects.iter().map(|o| o.chunks.len()).sum::<usize>(), pending.len(), "every chunk is packed once");
    let mut cmds = Vec::new();
    for object in objects {
        cmds.extend(object.uploaded_commands());
        tier::block_on_ready(store.put(&object.key, object.bytes)).unwrap();
    }
    apply(shard, kv, &cmds);
    pending.len()
}

/// Uploads one pending chunk alone in its object.
fn upload_one(shard: &Shard, kv: &MemKv, store: &MemObjectStore, chunk: &PendingChunk) {
    let objects = tier::pack_objects(kv, SHARD, "", std::slice::from_ref(chunk), TARGET).unwrap();
    assert_eq!(objects.len(), 1);
    tier::block_on_ready(store.put(&objects[0].key, objects[0].bytes.clone())).unwrap();
    apply(shard, kv, &objects[0].uploaded_commands());
}

fn count_kind(kv: &MemKv, kind: u8) -> usize {
    let mut n = 0;
    kv.scan(&keys::kind_prefix(SHARD, kind), &keys::kind_end(SHARD, kind), false, &mut |_, _| {
        n += 1;
        true
    })
    .unwrap();
    n
}

fn setup() -> (Arc<Shard>, Arc<MemKv>, Vec<(i64, String)>) {
    let kv = Arc::new(MemKv::new());
    let config = IngesterConfig { chunk_target_size: ByteSize(2000), ..Default::default() };
    let shard = Arc::new(Shard::open(SHARD, config, kv.as_ref()).unwrap());
    let app = Labels::from_pairs([("app", "x")]);
    let lines: Vec<(i64, String)> = (0..300).map(|i| (i * 1000, format!("line {i} {}", "y".repeat(40)))).collect();
    for batch in lines.chunks(20) {
        apply(&shard, &kv, &[push(&app, batch)]);
    }
    (shard, kv, lines)
}

#[test]
fn sealed_chunks_move_to_the_object_store_and_read_back() {
    let (shard, kv, lines) = setup();
    let sealed = count_kind(&kv, keys::CHUNK_META);
    assert!(sealed >= 3, "small chunks must seal several times, sealed {sealed}");
    assert_eq!(tier::count_pending(kv.as_ref(), SHARD).unwrap(), sealed as u64, "every sealed chunk waits");
    assert_eq!(read(&shard, &kv, None).unwrap(), lines);

    let store = Arc::new(MemObjectStore::new());
    assert_eq!(upload_all(&shard, &kv, &store), sealed);
    assert_eq!(tier::count_pending(kv.as_ref(), SHARD).unwrap(), 0);
    assert_eq!(count_kind(&kv, keys::CHUNK_DATA), 0, "local bytes are dropped once the upload is applied");
    let objects = store.keys().len();
    assert!(objects > 1 && objects < sealed, "small chunks are packed: {sealed} chunks in {objects} objects");
    assert!(store.keys().iter().all(|k| k.starts_with("balsa/chunks/t1/")), "{:?}", store.keys());

    // Without the object store, the error says where the data is.
    let err = read(&shard, &kv, None).unwrap_err();
    assert!(err.unavailable && err.message.contains("object storage"), "{err:?}");
    let cold: Arc<dyn ColdChunks> = Arc::new(MemCold::new(Arc::clone(&store)));
    assert_eq!(read(&shard, &kv, Some(Arc::clone(&cold))).unwrap(), lines, "hot head + cold chunks read as before");
    assert_eq!(read(&shard, &kv, Some(Arc::clone(&cold))).unwrap(), lines);

    // A store that goes down: cached objects still read, a fresh cache says so.
    store.set_available(false);
    assert_eq!(read(&shard, &kv, Some(cold)).unwrap(), lines);
    let err = read(&shard, &kv, Some(Arc::new(MemCold::new(Arc::clone(&store))))).unwrap_err();
    assert!(err.unavailable, "{err:?}");
    store.set_available(true);

    // Survives reopening the shard (the stream table comes from the keys).
    let reopened = Arc::new(Shard::open(SHARD, IngesterConfig::default(), kv.as_ref()).unwrap());
    let cold: Arc<dyn ColdChunks> = Arc::new(MemCold::new(store));
    assert_eq!(read(&reopened, &kv, Some(cold)).unwrap(), lines);
}

#[test]
fn uploaded_is_idempotent_and_ignores_missing_chunks() {
    let (shard, kv, lines) = setup();
    let store = MemObjectStore::new();
    let pending = tier::pending_uploads(kv.as_ref(), SHARD, 1).unwrap();
    assert_eq!(pending.len(), 1, "the limit bounds the batch");
    let object = tier::pack_objects(kv.as_ref(), SHARD, "", &pending, TARGET).unwrap().remove(0);
    let again = tier::pack_objects(kv.as_ref(), SHARD, "", &pending, TARGET).unwrap().remove(0);
    assert_eq!(object, again, "the object and its key are a function of the chunk");
    tier::block_on_ready(store.put(&object.key, object.bytes.clone())).unwrap();
    let cmds = object.uploaded_commands();
    let (stream_id, min_ts, seq) = (pending[0].stream_id, pending[0].min_ts, pending[0].seq);
    apply(&shard, &kv, &cmds);
    let after_first = kv.as_ref().get(&keys::chunk_meta(SHARD, stream_id, min_ts, seq)).unwrap();
    apply(&shard, &kv, &cmds);
    let after_second = kv.as_ref().get(&keys::chunk_meta(SHARD, stream_id, min_ts, seq)).unwrap();
    assert_eq!(after_first, after_second);
    assert!(
        tier::pack_objects(kv.as_ref(), SHARD, "", &pending, TARGET).unwrap().is_empty(),
        "uploaded needs no object"
    );

    // A chunk that does not exist (deleted meanwhile): nothing changes.
    let ghost = PendingChunk { stream_id: 1, min_ts: 2, seq: 3 };
    assert!(tier::pack_objects(kv.as_ref(), SHARD, "", &[ghost], TARGET).unwrap().is_empty());
    apply(
        &shard,
        &kv,
        &[ShardCommand::chunk_uploaded(ChunkUploaded {
            stream_id: 1,
            min_ts: 2,
            seq: 3,
            object: "x".into(),
            data_offset: 0,
        })],
    );
    assert_eq!(count_kind(&kv, keys::CHUNK_META), count_kind(&kv, keys::CHUNK_DATA) + 1);

    // The object describes itself: tenant, labels and the chunk's meta.
    let (header, at) = tier::decode_object(&object.bytes).unwrap();
    assert_eq!(header.tenant, "t1");
    assert_eq!(header.chunks.len(), 1);
    assert_eq!(header.chunks[0].labels.len(), 1);
    assert_eq!(at as u64 + header.chunks[0].offset, object.chunks[0].1);
    let meta = header.chunks[0].meta.clone().unwrap();
    let entries = balsa_storage::chunk::decode_block(&object.bytes[at..], &meta.blocks[0]).unwrap();
    assert_eq!((entries[0].ts_ns, entries[0].line.clone()), lines[0]);

    let cold: Arc<dyn ColdChunks> = Arc::new(MemCold::new(Arc::new(store)));
    assert_eq!(read(&shard, &kv, Some(cold)).unwrap(), lines, "one chunk cold, the rest local");
}

#[test]
fn a_fresh_shard_adopts_what_the_bucket_holds() {
    let (shard, kv, lines) = setup();
    let store = Arc::new(MemObjectStore::new());
    upload_all(&shard, &kv, &store);
    let cold: Arc<dyn ColdChunks> = Arc::new(MemCold::new(Arc::clone(&store)));
    let sealed: Vec<(i64, String)> = {
        // What the bucket holds: every line except the unsealed head.
        let head = count_kind(&kv, keys::HEAD);
        lines[..lines.len() - head].to_vec()
    };

    // Empty disks, same bucket.
    let kv2 = Arc::new(MemKv::new());
    let shard2 = Arc::new(Shard::open(SHARD, IngesterConfig::default(), kv2.as_ref()).unwrap());
    assert!(!tier::adopted(kv2.as_ref(), SHARD).unwrap());
    let listing = tier::block_on_ready(store.list("balsa/chunks/")).unwrap();
    assert_eq!(listing.len(), store.keys().len());
    let mut cmds = Vec::new();
    for o in &listing {
        let (tenant, stream) = tier::parse_object_key("balsa/", &o.key).unwrap();
        assert_eq!(tenant, "t1");
        let first = tier::block_on_ready(store.get_range(&o.key, 0, 12)).unwrap();
        let end = tier::header_end(&first).unwrap();
        let head = tier::block_on_ready(store.get_range(&o.key, 0, end as u64)).unwrap();
        assert_eq!(head.len(), end, "a range read returns just the header");
        for (chunk_stream, cmd) in tier::adopt_commands(&o.key, &head, &Default::default()).unwrap() {
            assert_eq!(chunk_stream, stream, "one stream here");
            cmds.push(cmd);
        }
    }
    apply(&shard2, &kv2, &cmds);
    apply(&shard2, &kv2, &cmds);
    apply(&shard2, &kv2, &[ShardCommand::adoption_done()]);
    assert!(tier::adopted(kv2.as_ref(), SHARD).unwrap());
    assert_eq!(read(&shard2, &kv2, Some(Arc::clone(&cold))).unwrap(), sealed, "adopting twice changes nothing");
    assert_eq!(tier::referenced_objects(kv2.as_ref(), SHARD).unwrap().len(), listing.len());
    assert_eq!(tier::count_pending(kv2.as_ref(), SHARD).unwrap(), 0, "adopted chunks are not uploaded again");

    // New data for an adopted stream seals into chunks that do not collide.
    let app = Labels::from_pairs([("app", "x")]);
    let more: Vec<(i64, String)> = (300..400).map(|i| (i * 1000, format!("line {i} {}", "y".repeat(40)))).collect();
    for batch in more.chunks(20) {
        apply(&shard2, &kv2, &[push(&app, batch)]);
    }
    let mut want = sealed.clone();
    want.extend(more);
    assert_eq!(read(&shard2, &kv2, Some(cold)).unwrap(), want);
    // After a reload the stream table still knows the adopted chunks.
    let reopened = Arc::new(Shard::open(SHARD, IngesterConfig::default(), kv2.as_ref()).unwrap());
    assert_eq!(reopened.stats().streams, 1);
}

#[test]
fn expire_drops_whole_old_chunks_and_old_head_entries() {
    let (shard, kv, lines) = setup();
    let store = Arc::new(MemObjectStore::new());
    // Half the chunks in the object store, half local: both kinds expire.
    let pending = tier::pending_uploads(kv.as_ref(), SHARD, usize::MAX).unwrap();
    for p in &pending[..pending.len() / 2] {
        upload_one(&shard, &kv, &store, p);
    }
    let cold: Arc<dyn ColdChunks> = Arc::new(MemCold::new(Arc::clone(&store)));
    let stream = balsa_model::stream_id("t1", &Labels::from_pairs([("app", "x")]));
    let chunks_before = count_kind(&kv, keys::CHUNK_META);
    let referenced_before = tier::referenced_objects(kv.as_ref(), SHARD).unwrap().len();

    // Cut in the middle: whole chunks that end before it go; the chunk
    // that straddles it stays whole.
    let cut = 150_000;
    apply(&shard, &kv, &[ShardCommand::expire(stream, cut)]);
    let got = read(&shard, &kv, Some(Arc::clone(&cold))).unwrap();
    assert!(got.first().unwrap().0 <= cut && got.first().unwrap().0 > 0, "first kept {:?}", got.first());
    assert_eq!(got[..], lines[lines.len() - got.len()..], "a suffix of the stream remains, in order");
    assert!(count_kind(&kv, keys::CHUNK_META) < chunks_before);
    assert_eq!(
        count_kind(&kv, keys::CHUNK_META),
        count_kind(&kv, keys::CHUNK_DATA) + tier::referenced_objects(kv.as_ref(), SHARD).unwrap().len()
    );
    assert!(tier::referenced_objects(kv.as_ref(), SHARD).unwrap().len() < referenced_before, "cold chunks expire too");
    let pending_after = tier::count_pending(kv.as_ref(), SHARD).unwrap();
    assert_eq!(pending_after as usize, count_kind(&kv, keys::CHUNK_DATA), "no upload is pending for a dropped chunk");
    // The stream's time range follows, so a query before the cut finds nothing.
    let reader = shard.reader(kv.clone());
    assert!(reader.streams("t1", 0, 1000, &mut |_| true).unwrap().is_empty());

    // Expiring everything removes the stream, also after a reload.
    apply(&shard, &kv, &[ShardCommand::expire(stream, i64::MAX)]);
    assert!(read(&shard, &kv, Some(cold)).unwrap().is_empty());
    assert_eq!(shard.stats().streams, 0);
    assert_eq!(count_kind(&kv, keys::HEAD), 0);
    assert_eq!(count_kind(&kv, keys::CHUNK_META), 0);
    let reopened = Shard::open(SHARD, IngesterConfig::default(), kv.as_ref()).unwrap();
    assert_eq!(reopened.stats().streams, 0);

    // Pushing again to the same labels starts a fresh stream.
    let app = Labels::from_pairs([("app", "x")]);
    apply(&shard, &kv, &[push(&app, &[(5, "again".to_string())])]);
    assert_eq!(read(&shard, &kv, None).unwrap(), vec![(5, "again".to_string())]);
}

#[test]
fn deletion_rewrites_local_and_cold_chunks_and_the_head() {
    use balsa_storage::command::{DeleteRequest, DeleteRequestOp};
    let (shard, kv, lines) = setup();
    let store = Arc::new(MemObjectStore::new());
    let pending = tier::pending_uploads(kv.as_ref(), SHARD, usize::MAX).unwrap();
    for p in &pending[..pending.len() / 2] {
        upload_one(&shard, &kv, &store, p);
    }
    let cold: Arc<dyn ColdChunks> = Arc::new(MemCold::new(Arc::clone(&store)));
    let stream = balsa_model::stream_id("t1", &Labels::from_pairs([("app", "x")]));
    let referenced = tier::referenced_objects(kv.as_ref(), SHARD).unwrap().len();

    // Delete lines containing "7 " between ts 20_000 and 290_000 (cold
    // chunks, local chunks and the head all hold some).
    let (start, end) = (20_000, 290_000);
    let doomed = |ts: i64, line: &str| ts >= start && ts <= end && line.contains("7 ");
    let reader = shard.reader(kv.clone()).with_cold(Some(Arc::clone(&cold)));
    let cmds = reader.plan_deletion(stream, start, end, &mut |e| e.line.contains("7 ")).unwrap();
    assert!(cmds.len() >= 3, "several chunks and the head: {}", cmds.len());
    apply(&shard, &kv, &cmds);
    let want: Vec<_> = lines.iter().filter(|(ts, l)| !doomed(*ts, l)).cloned().collect();
    assert!(want.len() < lines.len());
    assert_eq!(read(&shard, &kv, Some(Arc::clone(&cold))).unwrap(), want);
    // Nothing is left to delete; re-applying the old plan changes nothing.
    let reader = shard.reader(kv.clone()).with_cold(Some(Arc::clone(&cold)));
    assert!(reader.plan_deletion(stream, start, end, &mut |e| e.line.contains("7 ")).unwrap().is_empty());
    apply(&shard, &kv, &cmds);
    assert_eq!(read(&shard, &kv, Some(Arc::clone(&cold))).unwrap(), want);
    // Rewritten cold chunks are local again and wait for upload; their old
    // objects are no longer referenced (the sweep removes them).
    assert!(tier::referenced_objects(kv.as_ref(), SHARD).unwrap().len() < referenced);
    assert!(tier::count_pending(kv.as_ref(), SHARD).unwrap() > 0);
    upload_all(&shard, &kv, &store);
    assert_eq!(read(&shard, &kv, Some(Arc::new(MemCold::new(Arc::clone(&store))))).unwrap(), want);

    // Deleting everything removes the stream.
    let reader = shard.reader(kv.clone()).with_cold(Some(Arc::clone(&cold)));
    let cmds = reader.plan_deletion(stream, i64::MIN, i64::MAX, &mut |_| true).unwrap();
    apply(&shard, &kv, &cmds);
    assert_eq!(shard.stats().streams, 0);
    assert_eq!(count_kind(&kv, keys::CHUNK_META) + count_kind(&kv, keys::HEAD), 0);

    // Delete requests: add, list, cancel, mark processed.
    let req = |id: &str| DeleteRequest {
        tenant: "t1".into(),
        request_id: id.into(),
        query: "{app=\"x\"}".into(),
        start_ns: 1,
        end_ns: 2,
        created_ms: 3,
        processed: false,
    };
    apply(&shard, &kv, &[ShardCommand::delete_request(DeleteRequestOp::Add, req("a"))]);
    apply(&shard, &kv, &[ShardCommand::delete_request(DeleteRequestOp::Add, req("b"))]);
    let pending = shard.apply(kv.as_ref(), &[ShardCommand::delete_request(DeleteRequestOp::Cancel, req("a"))]).unwrap();
    kv.write(pending.batch.clone()).unwrap();
    assert_eq!(shard.commit(pending)[0].accepted, 1);
    apply(&shard, &kv, &[ShardCommand::delete_request(DeleteRequestOp::MarkProcessed, req("b"))]);
    let pending = shard.apply(kv.as_ref(), &[ShardCommand::delete_request(DeleteRequestOp::Cancel, req("b"))]).unwrap();
    kv.write(pending.batch.clone()).unwrap();
    let outcome = shard.commit(pending);
    assert_eq!(outcome[0].accepted, 0);
    assert!(outcome[0].rejected[0].contains("already processed"), "{outcome:?}");
    let listed = shard.reader(kv.clone()).delete_requests().unwrap();
    assert_eq!(listed, vec![DeleteRequest { processed: true, ..req("b") }]);
}

/// Every key and value of the shard.
fn dump(kv: &MemKv) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    kv.scan(&keys::shard_prefix(SHARD), &keys::shard_end(SHARD), false, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        true
    })
    .unwrap();
    out
}

#[test]
fn replicas_seal_identically_however_they_batch_and_restart() {
    use balsa_model::units::Duration as D;
    let config =
        IngesterConfig { chunk_target_size: ByteSize(3000), chunk_idle_period: D::from_secs(5), ..Default::default() };
    let s = 1_000_000_000i64;
    // Two streams; b goes quiet, a keeps writing, then a Tick moves time on.
    let mut cmds = Vec::new();
    for i in 0..120i64 {
        let a = Labels::from_pairs([("app", "a")]);
        cmds.push(push(&a, &[(i * s / 2, format!("a {i} {}", "x".repeat(30)))]));
        if i < 20 {
            let b = Labels::from_pairs([("app", "b")]);
            cmds.push(push(&b, &[(i * s / 2, format!("b {i}"))]));
        }
    }
    cmds.push(ShardCommand::tick(200 * s));

    // One by one.
    let kv1 = MemKv::new();
    let shard1 = Shard::open(SHARD, config.clone(), &kv1).unwrap();
    for c in &cmds {
        apply(&shard1, &kv1, std::slice::from_ref(c));
    }
    // In batches of 7, reopening the shard (a restart) between batches.
    let kv2 = MemKv::new();
    for batch in cmds.chunks(7) {
        let shard2 = Shard::open(SHARD, config.clone(), &kv2).unwrap();
        apply(&shard2, &kv2, batch);
    }
    // All at once.
    let kv3 = MemKv::new();
    let shard3 = Shard::open(SHARD, config.clone(), &kv3).unwrap();
    apply(&shard3, &kv3, &cmds);

    let d1 = dump(&kv1);
    assert_eq!(d1, dump(&kv2), "batching and restarts do not change what is written");
    assert_eq!(d1, dump(&kv3));
    // The quiet stream was sealed by idleness, and the Tick sealed the rest.
    assert_eq!(count_kind(&kv1, keys::HEAD), 0, "every head is sealed after the tick");
    assert!(tier::count_pending(&kv1, SHARD).unwrap() >= 3);
    assert_eq!(shard1.clock_ns(), 200 * s);
}
