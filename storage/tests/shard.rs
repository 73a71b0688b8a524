//! Apply and read one shard against the in-memory engine, checked against a
//! simple model (a sorted, de-duplicated list per stream).

use std::collections::BTreeMap;
use std::sync::Arc;

use balsa_model::units::{ByteSize, Duration};
use balsa_model::{Direction, Entry, Labels, StreamReader};
use balsa_storage::command::{EntryRecord, StreamEntries};
use balsa_storage::{IngesterConfig, KvWrite, MemKv, Push, Shard, ShardCommand};
use proptest::prelude::*;

const HOUR: i64 = 3_600_000_000_000;

fn push(tenant: &str, labels: &Labels, entries: &[(i64, &str)]) -> ShardCommand {
    ShardCommand::push(Push {
        tenant: tenant.into(),
        streams: vec![StreamEntries {
            labels: labels.iter().map(Into::into).collect(),
            entries: entries
                .iter()
                .map(|(ts, line)| EntryRecord { ts_ns: *ts, line: line.to_string(), structured_metadata: vec![] })
                .collect(),
        }],
        out_of_order_window_ns: HOUR,
        unordered_writes: true,
    })
}

fn apply(shard: &Shard, kv: &MemKv, cmds: &[ShardCommand]) -> Vec<balsa_storage::ApplyOutcome> {
    let pending = shard.apply(kv, cmds).unwrap();
    kv.write(pending.batch.clone()).unwrap();
    shard.commit(pending)
}

fn read_all(
    shard: &Arc<Shard>,
    kv: &Arc<MemKv>,
    tenant: &str,
    start: i64,
    end: i64,
    dir: Direction,
) -> Vec<(String, i64, String)> {
    let reader = shard.reader(kv.clone());
    let mut streams = reader.streams(tenant, start, end, &mut |_| true).unwrap();
    streams.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out = Vec::new();
    for s in streams {
        reader
            .entries(tenant, s.id, start, end, dir, &mut |e: &Entry| {
                out.push((s.labels.canonical(), e.ts_ns, e.line.clone()));
                true
            })
            .unwrap();
    }
    out
}

fn small_chunks() -> IngesterConfig {
    IngesterConfig {
        chunk_target_size: ByteSize(200),
        chunk_block_size: ByteSize(64),
        max_chunk_age: Duration::from_secs(3600),
        chunk_idle_period: Duration::from_secs(600),
        ..Default::default()
    }
}

#[test]
fn entries_survive_sealing_and_reload_in_order() {
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(1, small_chunks(), kv.as_ref()).unwrap());
    let app = Labels::from_pairs([("app", "a")]);
    let lines: Vec<String> = (0..100).map(|i| format!("line number {i}")).collect();
    for (i, line) in lines.iter().enumerate() {
        apply(&shard, &kv, &[push("fake", &app, &[(1_000 + i as i64, line)])]);
    }
    let stats = shard.stats();
    assert!(stats.chunks >= 5, "a 200-byte target must seal several chunks: {stats:?}");
    let forward = read_all(&shard, &kv, "fake", 0, i64::MAX, Direction::Forward);
    assert_eq!(forward.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), lines);
    let mut backward = read_all(&shard, &kv, "fake", 0, i64::MAX, Direction::Backward);
    backward.reverse();
    assert_eq!(backward, forward);

    // A fresh shard over the same keys sees the same data: no replay.
    let reopened = Arc::new(Shard::open(1, small_chunks(), kv.as_ref()).unwrap());
    assert_eq!(reopened.stats(), stats);
    assert_eq!(read_all(&reopened, &kv, "fake", 0, i64::MAX, Direction::Forward), forward);
    // Time range: [start, end)
    let ranged = read_all(&reopened, &kv, "fake", 1_010, 1_020, Direction::Forward);
    assert_eq!(ranged.len(), 10);
    assert_eq!(ranged[0].1, 1_010);
}

#[test]
fn identical_entries_are_stored_once_even_across_seals() {
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(0, small_chunks(), kv.as_ref()).unwrap());
    let l = Labels::from_pairs([("job", "x")]);
    let cmd = push("fake", &l, &[(5, "same"), (5, "same"), (5, "other")]);
    apply(&shard, &kv, &[cmd.clone(), cmd.clone()]);
    // Force a seal with a big entry, then retry the same push.
    apply(&shard, &kv, &[push("fake", &l, &[(6, &"y".repeat(300))])]);
    assert!(shard.stats().chunks >= 1);
    apply(&shard, &kv, &[cmd]);
    let got = read_all(&shard, &kv, "fake", 0, 100, Direction::Forward);
    let lines: Vec<_> = got.iter().map(|e| (e.1, e.2.as_str())).collect();
    assert_eq!(lines, vec![(5, "other"), (5, "same"), (6, "y".repeat(300).as_str())]);
}

#[test]
fn out_of_order_window_rejects_with_loki_message() {
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(0, IngesterConfig::default(), kv.as_ref()).unwrap());
    let l = Labels::from_pairs([("job", "x")]);
    let out = apply(
        &shard,
        &kv,
        &[push("fake", &l, &[(10 * HOUR, "new"), (10 * HOUR - HOUR / 2, "ok late"), (8 * HOUR, "too old")])],
    );
    assert_eq!(out[0].accepted, 2);
    assert_eq!(out[0].rejected.len(), 1);
    let msg = &out[0].rejected[0];
    assert!(msg.contains("entry too far behind"), "{msg}");
    assert!(msg.ends_with(r#"user 'fake', total ignored: 1 out of 3 for stream: {job="x"}"#), "{msg}");
    assert!(msg.contains("1970-01-01 08:00:00 +0000 UTC"), "{msg}");
}

#[test]
fn idle_streams_are_sealed_by_entry_time_not_wall_clock() {
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(0, small_chunks(), kv.as_ref()).unwrap());
    let quiet = Labels::from_pairs([("job", "quiet")]);
    let busy = Labels::from_pairs([("job", "busy")]);
    apply(&shard, &kv, &[push("fake", &quiet, &[(HOUR, "q")])]);
    assert_eq!(shard.stats().chunks, 0);
    // 11 minutes later in entry time, another stream writes: quiet is idle.
    apply(&shard, &kv, &[push("fake", &busy, &[(HOUR + 11 * 60_000_000_000, "b")])]);
    assert_eq!(shard.stats().chunks, 1, "the idle stream's head must be sealed");
    assert_eq!(read_all(&shard, &kv, "fake", 0, i64::MAX, Direction::Forward).len(), 2);
}

#[test]
fn tenants_are_isolated() {
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(0, IngesterConfig::default(), kv.as_ref()).unwrap());
    let l = Labels::from_pairs([("job", "x")]);
    apply(&shard, &kv, &[push("a", &l, &[(1, "for a")]), push("b", &l, &[(1, "for b")])]);
    assert_eq!(read_all(&shard, &kv, "a", 0, 10, Direction::Forward)[0].2, "for a");
    assert_eq!(read_all(&shard, &kv, "b", 0, 10, Direction::Forward)[0].2, "for b");
    assert!(read_all(&shard, &kv, "c", 0, 10, Direction::Forward).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Any sequence of pushes, applied in batches, reads back as the model says,
    /// and two replicas applying the same sequence end with identical keys.
    #[test]
    fn apply_matches_model_and_is_deterministic(
        ops in proptest::collection::vec((0u8..3, 0i64..500, 0u8..6, 1usize..4), 1..60)
    ) {
        let cfg = small_chunks();
        let kv_a = Arc::new(MemKv::new());
        let kv_b = Arc::new(MemKv::new());
        let a = Arc::new(Shard::open(0, cfg.clone(), kv_a.as_ref()).unwrap());
        let b = Arc::new(Shard::open(0, cfg, kv_b.as_ref()).unwrap());
        let mut model: BTreeMap<(String, i64, String), ()> = BTreeMap::new();
        let mut batch = Vec::new();
        for (stream, ts, line, batch_len) in ops {
            let labels = Labels::from_pairs([("s", stream.to_string())]);
            let ts = ts * 1_000_000_000;
            let line = format!("l{line}");
            batch.push(push("fake", &labels, &[(ts, &line)]));
            model.insert((labels.canonical(), ts, line), ());
            if batch.len() >= batch_len {
                apply(&a, &kv_a, &batch);
                apply(&b, &kv_b, &batch);
                batch.clear();
            }
        }
        apply(&a, &kv_a, &batch);
        apply(&b, &kv_b, &batch);
        let got = read_all(&a, &kv_a, "fake", i64::MIN / 2, i64::MAX / 2, Direction::Forward);
        let mut want: Vec<_> = model.into_keys().collect();
        want.sort();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        prop_assert_eq!(got_sorted, want);
        let dump = |kv: &MemKv| {
            let mut all = Vec::new();
            balsa_storage::KvRead::scan(kv, &[], &[0xff; 8], false, &mut |k, v| { all.push((k.to_vec(), v.to_vec())); true }).unwrap();
            all
        };
        prop_assert_eq!(dump(&kv_a), dump(&kv_b));
    }
}

#[test]
fn index_narrows_streams_by_required_pairs() {
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(0, IngesterConfig::default(), kv.as_ref()).unwrap());
    let web = Labels::from_pairs([("app", "web"), ("env", "prod")]);
    let db = Labels::from_pairs([("app", "db"), ("env", "prod")]);
    apply(
        &shard,
        &kv,
        &[push("fake", &web, &[(1, "w")]), push("fake", &db, &[(1, "d")]), push("other", &web, &[(1, "o")])],
    );
    let check = |shard: &Arc<Shard>| {
        let reader = shard.reader(kv.clone());
        let names = |required: &[(&str, &str)], tenant: &str| {
            let mut v: Vec<String> = reader
                .streams_with(tenant, 0, 10, required, &mut |_| true)
                .unwrap()
                .into_iter()
                .map(|s| s.labels.canonical())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&[("app", "web")], "fake"), vec![web.canonical()]);
        assert_eq!(names(&[("env", "prod")], "fake").len(), 2);
        assert_eq!(names(&[("env", "prod"), ("app", "db")], "fake"), vec![db.canonical()]);
        assert!(names(&[("app", "nope")], "fake").is_empty());
        assert_eq!(names(&[("app", "web")], "other").len(), 1, "postings are per tenant");
        // The predicate still judges candidates.
        let none = reader.streams_with("fake", 0, 10, &[("env", "prod")], &mut |_| false).unwrap();
        assert!(none.is_empty());
        // And the time range still applies.
        assert!(reader.streams_with("fake", 5, 10, &[("env", "prod")], &mut |_| true).unwrap().is_empty());
    };
    check(&shard);
    // The index is rebuilt from stream records on open.
    check(&Arc::new(Shard::open(0, IngesterConfig::default(), kv.as_ref()).unwrap()));
}

#[test]
fn sealed_blocks_read_in_time_then_line_order_in_both_directions() {
    let kv = Arc::new(MemKv::new());
    // One block per chunk, so a chunk's tied lines share one block.
    let config =
        IngesterConfig { chunk_target_size: ByteSize(300), chunk_block_size: ByteSize(4096), ..small_chunks() };
    let shard = Arc::new(Shard::open(2, config, kv.as_ref()).unwrap());
    let app = Labels::from_pairs([("app", "ties")]);
    // Several lines share a timestamp; the head stores them by hash, so a
    // sealed block may hold them out of line order: reads must still order
    // by (time, line). Distinct timestamps give blocks that are in order.
    let mut model: Vec<(i64, String)> = Vec::new();
    for ts in 0..30i64 {
        let n = if ts % 3 == 0 { 4 } else { 1 };
        let entries: Vec<(i64, String)> =
            (0..n).map(|k| (100 + ts, format!("{}-{k} some padding to fill blocks", (ts * 7 + k * 13) % 17))).collect();
        let refs: Vec<(i64, &str)> = entries.iter().map(|(t, l)| (*t, l.as_str())).collect();
        apply(&shard, &kv, &[push("fake", &app, &refs)]);
        model.extend(entries);
    }
    assert!(shard.stats().chunks >= 2, "{:?}", shard.stats());
    model.sort();
    let lines = |v: Vec<(String, i64, String)>| v.into_iter().map(|(_, t, l)| (t, l)).collect::<Vec<_>>();
    assert_eq!(lines(read_all(&shard, &kv, "fake", 0, 1_000, Direction::Forward)), model);
    let mut back = lines(read_all(&shard, &kv, "fake", 0, 1_000, Direction::Backward));
    back.reverse();
    assert_eq!(back, model);
    // A range inside sealed blocks, [106, 112), both ways.
    let want: Vec<(i64, String)> = model.iter().filter(|(t, _)| (106..112).contains(t)).cloned().collect();
    assert_eq!(lines(read_all(&shard, &kv, "fake", 106, 112, Direction::Forward)), want);
    let mut back = lines(read_all(&shard, &kv, "fake", 106, 112, Direction::Backward));
    back.reverse();
    assert_eq!(back, want);
}

/// What a hinted read visits and what it reports as skipped, against a read
/// without a hint.
#[test]
fn hinted_reads_skip_blocks_without_the_text_and_count_them() {
    use balsa_model::{LineHint, Skipped};
    use balsa_storage::command::Pair;
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(3, small_chunks(), kv.as_ref()).unwrap());
    let app = Labels::from_pairs([("app", "hay")]);
    for i in 0..200i64 {
        let line = if i % 40 == 7 { format!("a needle {i}") } else { format!("hay {i}") };
        // Metadata counts towards bytes, and a needle there is no match.
        let structured_metadata =
            if i % 40 == 20 { vec![Pair { name: "note".into(), value: "needle".into() }] } else { vec![] };
        let cmd = ShardCommand::push(Push {
            tenant: "fake".into(),
            streams: vec![StreamEntries {
                labels: app.iter().map(Into::into).collect(),
                entries: vec![EntryRecord { ts_ns: 1_000 + i, line, structured_metadata }],
            }],
            out_of_order_window_ns: HOUR,
            unordered_writes: true,
        });
        apply(&shard, &kv, &[cmd]);
    }
    assert!(shard.stats().chunks >= 4, "{:?}", shard.stats());
    let reader = shard.reader(kv.clone());
    let id = reader.streams("fake", 0, i64::MAX, &mut |_| true).unwrap()[0].id;
    let hint = LineHint::new([["needle"]]);
    for (start, end) in [(0, i64::MAX), (1_050, 1_130)] {
        for dir in [Direction::Forward, Direction::Backward] {
            let mut all = Vec::new();
            reader
                .entries("fake", id, start, end, dir, &mut |e: &Entry| {
                    all.push(e.clone());
                    true
                })
                .unwrap();
            let mut visited = Vec::new();
            let skipped = reader
                .entries_hinted("fake", id, start, end, dir, &hint, &mut |e: &Entry| {
                    visited.push(e.clone());
                    true
                })
                .unwrap();
            let needles: Vec<&Entry> = all.iter().filter(|e| e.line.contains("needle")).collect();
            let kept: Vec<&Entry> = visited.iter().filter(|e| e.line.contains("needle")).collect();
            assert_eq!(kept, needles, "every needle line is visited, in order ({start}..{end}, {dir:?})");
            assert!(skipped.lines > 0 && visited.len() < all.len() / 2, "blocks without a needle are skipped");
            let mut total = Skipped::default();
            for e in &visited {
                assert!(all.contains(e));
                total.add(e);
            }
            total += skipped;
            let mut want = Skipped::default();
            all.iter().for_each(|e| want.add(e));
            assert_eq!(total, want, "visited plus skipped is everything in range ({start}..{end}, {dir:?})");
        }
    }
}

#[test]
fn records_put_delete_and_delete_by_prefix_within_their_space() {
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(3, IngesterConfig::default(), kv.as_ref()).unwrap());
    let put = |space: &str, key: &str, v: &str| ShardCommand::record(space, key, Some(v.as_bytes().to_vec()));
    apply(
        &shard,
        &kv,
        &[put("rules", "t\0ns1\0g1", "a"), put("rules", "t\0ns1\0g2", "b"), put("rules", "t\0ns10\0g", "c")],
    );
    apply(&shard, &kv, &[put("rules", "u\0ns1\0g1", "d"), put("alerts", "t\0ns1\0g1", "e")]);
    let reader = shard.reader(kv.clone());
    let keys_of = |space: &str, prefix: &str| -> Vec<String> {
        reader.records(space, prefix).unwrap().into_iter().map(|(k, _)| k).collect()
    };
    assert_eq!(keys_of("rules", "t\0"), vec!["t\0ns1\0g1", "t\0ns1\0g2", "t\0ns10\0g"]);
    assert_eq!(reader.records("alerts", "").unwrap(), vec![("t\0ns1\0g1".to_string(), b"e".to_vec())]);

    // Overwrite, delete one, delete a namespace (the separator keeps ns10 apart from ns1).
    apply(&shard, &kv, &[put("rules", "t\0ns1\0g1", "a2"), ShardCommand::record("rules", "t\0ns1\0g2", None)]);
    assert_eq!(reader.records("rules", "t\0ns1\0").unwrap(), vec![("t\0ns1\0g1".to_string(), b"a2".to_vec())]);
    apply(&shard, &kv, &[ShardCommand::delete_records("rules", "t\0ns1\0")]);
    assert_eq!(keys_of("rules", ""), vec!["t\0ns10\0g", "u\0ns1\0g1"]);
    // Other spaces are untouched; records survive a reopen (they are keys, not memory).
    let reopened = Arc::new(Shard::open(3, IngesterConfig::default(), kv.as_ref()).unwrap());
    assert_eq!(reopened.reader(kv.clone()).records("alerts", "t\0").unwrap().len(), 1);
}
