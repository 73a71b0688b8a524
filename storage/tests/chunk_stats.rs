//! `ShardReader::chunk_stats`: index statistics of a stream's sealed chunks
//! and head chunk from their metadata, checked against what was pushed.

use std::sync::Arc;

use balsa_model::read::ChunkStats;
use balsa_model::units::{ByteSize, Duration};
use balsa_model::{Direction, Entry, Labels, StreamReader};
use balsa_storage::command::{EntryRecord, Pair, StreamEntries};
use balsa_storage::{IngesterConfig, KvWrite, MemKv, Push, Shard, ShardCommand};

const HOUR: i64 = 3_600_000_000_000;

/// An entry to push: time, line, structured metadata.
type Pushed<'a> = (i64, String, Vec<(&'a str, &'a str)>);

fn push(labels: &Labels, entries: &[Pushed]) -> ShardCommand {
    ShardCommand::push(Push {
        tenant: "fake".into(),
        streams: vec![StreamEntries {
            labels: labels.iter().map(Into::into).collect(),
            entries: entries
                .iter()
                .map(|(ts, line, sm)| EntryRecord {
                    ts_ns: *ts,
                    line: line.clone(),
                    structured_metadata: sm
                        .iter()
                        .map(|(n, v)| Pair { name: n.to_string(), value: v.to_string() })
                        .collect(),
                })
                .collect(),
        }],
        out_of_order_window_ns: HOUR,
        unordered_writes: true,
    })
}

fn apply(shard: &Shard, kv: &MemKv, cmds: &[ShardCommand]) {
    let pending = shard.apply(kv, cmds).unwrap();
    kv.write(pending.batch.clone()).unwrap();
    shard.commit(pending);
}

/// Seals a head chunk once it holds 200 bytes: ten of the 20-byte lines below.
fn config() -> IngesterConfig {
    IngesterConfig {
        chunk_target_size: ByteSize(200),
        chunk_block_size: ByteSize(64),
        max_chunk_age: Duration::from_secs(3600),
        chunk_idle_period: Duration::from_secs(600),
        ..Default::default()
    }
}

fn sorted(mut v: Vec<ChunkStats>) -> Vec<ChunkStats> {
    v.sort_by_key(|c| (c.min_ts, c.max_ts));
    v
}

#[test]
fn sealed_and_head_chunks_overlapping_the_range_whole() {
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(0, config(), kv.as_ref()).unwrap());
    let app = Labels::from_pairs([("app", "a")]);
    // 35 entries of 20 bytes at 1000, 1010, ...: three sealed chunks of ten
    // (sealed as their 10th entry makes 200 bytes), five in the head.
    for i in 0..35 {
        apply(&shard, &kv, &[push(&app, &[(1_000 + 10 * i, format!("entry {i:014}"), vec![])])]);
    }
    let reader = shard.reader(kv.clone());
    let id = balsa_model::stream_id("fake", &app);
    let chunk = |first: i64, n: u64| ChunkStats {
        min_ts: 1_000 + 10 * first,
        max_ts: 1_000 + 10 * (first + n as i64 - 1),
        entries: n,
        bytes: 20 * n,
    };
    let stats = |start, end| sorted(reader.chunk_stats("fake", id, start, end).unwrap());
    assert_eq!(stats(0, i64::MAX), vec![chunk(0, 10), chunk(10, 10), chunk(20, 10), chunk(30, 5)]);
    // Chunks are whole even when the range cuts them; `[start, end)`.
    assert_eq!(stats(1_085, 1_105), vec![chunk(0, 10), chunk(10, 10)]);
    assert_eq!(stats(1_091, 1_100), vec![], "between two chunks: 1100 is not before the end");
    assert_eq!(stats(1_090, 1_091), vec![chunk(0, 10)], "the first chunk's last entry is at 1090");
    assert_eq!(stats(1_300, 1_301), vec![chunk(30, 5)], "the head");
    assert_eq!(stats(1_341, 2_000), vec![], "after the head's last entry");
    assert_eq!(stats(10, 10), vec![], "an empty range");
    assert_eq!(reader.chunk_stats("other", id, 0, i64::MAX).unwrap(), vec![], "another tenant's stream id");

    // Every entry a read returns lies in a chunk the statistics report, and
    // they count each entry once (no chunk overlaps another here).
    let mut read = Vec::new();
    reader
        .entries("fake", id, 1_095, 1_305, Direction::Forward, &mut |e: &Entry| {
            read.push(e.ts_ns);
            true
        })
        .unwrap();
    let got = stats(1_095, 1_305);
    assert!(read.iter().all(|ts| got.iter().any(|c| c.min_ts <= *ts && *ts <= c.max_ts)));
    assert_eq!(got.iter().map(|c| c.entries).sum::<u64>(), 25, "chunks 10.., 20.. and the head's 5");
}

#[test]
fn bytes_are_entry_sizes_with_structured_metadata() {
    // `Entry::size`: the line plus each metadata pair's name and value.
    let kv = Arc::new(MemKv::new());
    let shard = Arc::new(Shard::open(0, config(), kv.as_ref()).unwrap());
    let app = Labels::from_pairs([("app", "b")]);
    let entries: Vec<Pushed> = vec![
        (5, "x".repeat(150), vec![("trace", "abc")]), // 150 + 8
        (6, "y".repeat(40), vec![]),                  // 40: 198 in the head, not sealed yet
        (7, "z".repeat(2), vec![]),                   // 200: sealed
        (9, "tail".into(), vec![("k", "v")]),         // 4 + 2, in the head
    ];
    apply(&shard, &kv, &[push(&app, &entries)]);
    let reader = shard.reader(kv.clone());
    let id = balsa_model::stream_id("fake", &app);
    assert_eq!(
        sorted(reader.chunk_stats("fake", id, 0, 100).unwrap()),
        vec![
            ChunkStats { min_ts: 5, max_ts: 7, entries: 3, bytes: 200 },
            ChunkStats { min_ts: 9, max_ts: 9, entries: 1, bytes: 6 },
        ]
    );
}
