//! openraft's storage conformance suite against the RocksDB log store and
//! state machine, for a shard that shares its `Db` with another shard's data.

use std::sync::Arc;

use balsa_storage::{IngesterConfig, Shard};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb, StorageError};

use crate::db::Db;
use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::types::TypeConfig;

struct RocksBuilder;

fn storage_error(e: impl std::fmt::Display) -> StorageError<TypeConfig> {
    StorageError::from_io_error(ErrorSubject::Store, ErrorVerb::Write, std::io::Error::other(e.to_string()))
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for RocksBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().map_err(storage_error)?;
        let db = Db::open(&dir.path().join("db")).map_err(storage_error)?;
        // A neighbour shard with data of its own must not disturb shard 7.
        let mut neighbour = LogStore::new(6, Arc::clone(&db));
        let vote = openraft::type_config::alias::VoteOf::<TypeConfig>::new(9, 9);
        openraft::storage::RaftLogStorage::save_vote(&mut neighbour, &vote).await.map_err(storage_error)?;
        let shard = Arc::new(Shard::open(7, IngesterConfig::default(), &db.sm_kv()).map_err(storage_error)?);
        let sm = StateMachine::open(7, Arc::clone(&db), shard, dir.path().join("snapshots")).map_err(storage_error)?;
        Ok((dir, LogStore::new(7, db), sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocksdb_store_passes_openraft_suite() {
    Suite::test_all(RocksBuilder).await.expect("openraft storage suite");
}

/// A snapshot materialized from one node's shard and installed on another
/// replaces exactly that shard's data there, and reads back the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_moves_a_shard_between_nodes() {
    use balsa_model::{Direction, Entry, Labels, StreamReader};
    use balsa_storage::command::{EntryRecord, StreamEntries};
    use balsa_storage::{KvWrite, Push, ShardCommand};
    use openraft::storage::RaftStateMachine;

    use crate::state_machine::ShardSnapshot;

    fn push(labels: &Labels, lines: &[(i64, &str)]) -> ShardCommand {
        ShardCommand::push(Push {
            tenant: "fake".into(),
            streams: vec![StreamEntries {
                labels: labels.iter().map(Into::into).collect(),
                entries: lines
                    .iter()
                    .map(|(ts, l)| EntryRecord { ts_ns: *ts, line: l.to_string(), structured_metadata: vec![] })
                    .collect(),
            }],
            out_of_order_window_ns: i64::MAX,
            unordered_writes: true,
        })
    }
    fn read(shard: &Arc<Shard>, db: &Arc<Db>) -> Vec<(String, i64, String)> {
        let reader = shard.reader(Arc::new(db.sm_kv()));
        let mut out = Vec::new();
        for s in reader.streams("fake", 0, i64::MAX, &mut |_| true).unwrap() {
            reader
                .entries("fake", s.id, 0, i64::MAX, Direction::Forward, &mut |e: &Entry| {
                    out.push((s.labels.canonical(), e.ts_ns, e.line.clone()));
                    true
                })
                .unwrap();
        }
        out.sort();
        out
    }

    let small = IngesterConfig { chunk_target_size: balsa_model::units::ByteSize(100), ..Default::default() };
    let dir_a = tempfile::tempdir().unwrap();
    let db_a = Db::open(&dir_a.path().join("db")).unwrap();
    let shard_a = Arc::new(Shard::open(3, small.clone(), &db_a.sm_kv()).unwrap());
    let app = Labels::from_pairs([("app", "a")]);
    let lines: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    let cmds: Vec<_> = lines.iter().enumerate().map(|(i, l)| push(&app, &[(i as i64, l)])).collect();
    let pending = shard_a.apply(&db_a.sm_kv(), &cmds).unwrap();
    db_a.sm_kv().write(pending.batch.clone()).unwrap();
    shard_a.commit(pending);
    assert!(shard_a.stats().chunks > 0, "the snapshot must carry sealed chunks too");
    let mut sm_a = StateMachine::open(3, Arc::clone(&db_a), Arc::clone(&shard_a), dir_a.path().join("snap")).unwrap();
    let snap = sm_a.get_snapshot_builder().await;
    let mut builder = snap;
    let built = openraft::RaftSnapshotBuilder::build_snapshot(&mut builder).await.unwrap();
    let ShardSnapshot::Local(local) = built.snapshot else { panic!("own snapshot is local") };
    let (meta, file) = local.materialize().unwrap();
    assert_eq!(meta, built.meta);

    let dir_b = tempfile::tempdir().unwrap();
    let db_b = Db::open(&dir_b.path().join("db")).unwrap();
    // Shard 4 on node B holds data of its own; shard 3 holds stale data.
    let shard_b4 = Arc::new(Shard::open(4, small.clone(), &db_b.sm_kv()).unwrap());
    let p = shard_b4.apply(&db_b.sm_kv(), &[push(&app, &[(1, "neighbour")])]).unwrap();
    db_b.sm_kv().write(p.batch.clone()).unwrap();
    shard_b4.commit(p);
    let shard_b3 = Arc::new(Shard::open(3, small.clone(), &db_b.sm_kv()).unwrap());
    let p = shard_b3.apply(&db_b.sm_kv(), &[push(&app, &[(999, "stale")])]).unwrap();
    db_b.sm_kv().write(p.batch.clone()).unwrap();
    shard_b3.commit(p);
    let mut sm_b = StateMachine::open(3, Arc::clone(&db_b), Arc::clone(&shard_b3), dir_b.path().join("snap")).unwrap();
    sm_b.install_snapshot(&meta, ShardSnapshot::File(file)).await.unwrap();

    assert_eq!(read(&shard_b3, &db_b), read(&shard_a, &db_a));
    assert_eq!(read(&shard_b3, &db_b).len(), 50);
    assert_eq!(read(&shard_b4, &db_b).len(), 1, "other shards are untouched");
    assert_eq!(sm_b.applied_state().await.unwrap().0, meta.last_log_id);
    // Survives reopening.
    let reopened = Arc::new(Shard::open(3, small, &db_b.sm_kv()).unwrap());
    assert_eq!(read(&reopened, &db_b).len(), 50);
}
