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
