//! [`ColdCache`]: whole chunk objects kept in memory, least recently used
//! first out, bounded in bytes. Readers run on their own threads and block
//! on it; the fetch itself runs on the tokio runtime.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use balsa_storage::StorageError;
use balsa_storage::tier::{ColdChunks, ObjectStore};

struct Entries {
    lru: lru::LruCache<String, Arc<Vec<u8>>>,
    bytes: u64,
}

pub struct ColdCache {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Handle,
    max_bytes: u64,
    fetch_timeout: Duration,
    entries: Mutex<Entries>,
}

impl ColdCache {
    /// A cache of at most `max_bytes` over `store`, fetching on `runtime`.
    pub fn new(store: Arc<dyn ObjectStore>, runtime: tokio::runtime::Handle, max_bytes: u64) -> Self {
        Self {
            store,
            runtime,
            max_bytes,
            fetch_timeout: Duration::from_secs(60),
            entries: Mutex::new(Entries { lru: lru::LruCache::unbounded(), bytes: 0 }),
        }
    }

    /// Bytes held right now.
    pub fn bytes(&self) -> u64 {
        self.entries.lock().expect("cache lock").bytes
    }

    fn insert(&self, key: &str, value: &Arc<Vec<u8>>) {
        let len = value.len() as u64;
        if len > self.max_bytes {
            return;
        }
        let mut e = self.entries.lock().expect("cache lock");
        if let Some(old) = e.lru.put(key.to_string(), Arc::clone(value)) {
            e.bytes -= old.len() as u64;
        }
        e.bytes += len;
        while e.bytes > self.max_bytes {
            match e.lru.pop_lru() {
                Some((_, evicted)) => e.bytes -= evicted.len() as u64,
                None => break,
            }
        }
        metrics::gauge!("balsa_chunk_cache_bytes").set(e.bytes as f64);
    }
}

impl ColdChunks for ColdCache {
    fn fetch(&self, key: &str, start: u64, end: u64) -> Result<Arc<Vec<u8>>, StorageError> {
        let cache_key = format!("{key}#{start}-{end}");
        if let Some(hit) = self.entries.lock().expect("cache lock").lru.get(&cache_key) {
            metrics::counter!("balsa_chunk_cache_hits_total").increment(1);
            return Ok(Arc::clone(hit));
        }
        metrics::counter!("balsa_chunk_cache_misses_total").increment(1);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let store = Arc::clone(&self.store);
        let owned = key.to_string();
        self.runtime.spawn(async move {
            let _ = tx.send(store.get_range(&owned, start, end).await);
        });
        let bytes = match rx.recv_timeout(self.fetch_timeout) {
            Ok(r) => Arc::new(r?),
            Err(_) => {
                return Err(StorageError::unavailable(format!(
                    "fetching chunk {key} took longer than {:?}",
                    self.fetch_timeout
                )));
            }
        };
        self.insert(&cache_key, &bytes);
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use balsa_storage::tier::MemObjectStore;

    use super::*;

    #[test]
    fn keeps_recent_objects_within_the_byte_bound() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let store = Arc::new(MemObjectStore::new());
        for (k, n) in [("a", 40), ("b", 40), ("c", 40), ("huge", 500)] {
            rt.block_on(store.put(k, vec![7; n])).unwrap();
        }
        let cache = ColdCache::new(store.clone(), rt.handle().clone(), 100);
        assert_eq!(cache.fetch("a", 0, 1000).unwrap().len(), 40);
        assert_eq!(cache.fetch("b", 0, 1000).unwrap().len(), 40);
        assert_eq!(store.gets(), 2);
        cache.fetch("a", 0, 1000).unwrap();
        assert_eq!(store.gets(), 2, "a hit does not reach the store");
        cache.fetch("c", 0, 1000).unwrap();
        assert_eq!(cache.bytes(), 80, "b, least recently used, was evicted");
        cache.fetch("a", 0, 1000).unwrap();
        assert_eq!(store.gets(), 3);
        cache.fetch("b", 0, 1000).unwrap();
        assert_eq!(store.gets(), 4, "b was evicted");
        assert_eq!(cache.fetch("huge", 0, 1000).unwrap().len(), 500, "too big to cache, still served");
        assert!(cache.bytes() <= 100);
        let err = cache.fetch("missing", 0, 1000).unwrap_err();
        assert_eq!(err.kind, balsa_storage::ErrorKind::NotFound);
        store.set_available(false);
        assert_eq!(cache.fetch("a", 0, 1000).unwrap().len(), 40, "cached objects survive a store outage");
        assert_eq!(cache.fetch("huge", 0, 1000).unwrap_err().kind, balsa_storage::ErrorKind::Unavailable);
    }
}
