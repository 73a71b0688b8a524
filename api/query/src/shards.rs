//! Reading shards in parallel: one reader per shard, a few worker threads
//! that each take the next reader nobody has taken yet (shards differ in
//! size, so a fixed split would leave a thread idle), results in reader
//! order so that merging them gives the same answer on any number of cores.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use balsa_model::StreamReader;

use crate::error::QueryError;

/// Entries a shard read visits between two looks at the query's deadline.
pub(crate) const DEADLINE_EVERY: u64 = 4096;

/// Whether the query's deadline, if it has one, has passed.
pub(crate) fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Worker threads for one query: the machine's cores, at most 8.
pub(crate) fn worker_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8)
}

/// `work(state, reader)` for every reader, on up to `threads` threads; each
/// thread starts from `init()`. The results are in the order of `readers`.
/// A worker that panics fails the query (the others finish their shard).
pub(crate) fn map_readers<S, T: Send>(
    readers: &[&dyn StreamReader],
    threads: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &dyn StreamReader) -> T + Sync,
) -> Result<Vec<T>, QueryError> {
    let threads = threads.clamp(1, readers.len().max(1));
    if threads == 1 {
        let mut state = init();
        return Ok(readers.iter().map(|r| work(&mut state, *r)).collect());
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = readers.iter().map(|_| Mutex::new(None)).collect();
    let all_joined = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(reader) = readers.get(i) else { break };
                        let out = work(&mut state, *reader);
                        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
                    }
                })
            })
            .collect();
        // Every worker is joined here (no short cut: the scope itself panics
        // for a panicked worker left unjoined), so a panic becomes an error.
        let joined: Vec<bool> = workers.into_iter().map(|w| w.join().is_ok()).collect();
        joined.into_iter().all(|ok| ok)
    });
    let panicked = || QueryError::Storage("query worker panicked".into());
    if !all_joined {
        return Err(panicked());
    }
    slots.into_iter().map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()).ok_or_else(panicked)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use balsa_model::MemStreams;

    #[test]
    fn results_follow_reader_order_whatever_the_thread_count() {
        let stores: Vec<MemStreams> = (0..13).map(|_| MemStreams::new()).collect();
        let readers: Vec<&dyn StreamReader> = stores.iter().map(|m| m as &dyn StreamReader).collect();
        let want: Vec<usize> = (0..13).collect();
        for threads in [1, 2, 3, 8, 64] {
            let inits = AtomicUsize::new(0);
            let got = map_readers(
                &readers,
                threads,
                || inits.fetch_add(1, Ordering::Relaxed),
                |_, r| readers.iter().position(|x| std::ptr::addr_eq(*x, r)).expect("a reader of the list"),
            )
            .expect("no worker panics");
            assert_eq!(got, want, "threads={threads}");
            assert!(inits.load(Ordering::Relaxed) <= threads.min(13), "one state per worker");
        }
    }

    #[test]
    fn a_panicking_worker_fails_the_query_instead_of_the_process() {
        let stores: Vec<MemStreams> = (0..6).map(|_| MemStreams::new()).collect();
        let readers: Vec<&dyn StreamReader> = stores.iter().map(|m| m as &dyn StreamReader).collect();
        let third = readers[2];
        let got = map_readers(
            &readers,
            2,
            || (),
            |_, r| {
                if std::ptr::addr_eq(r, third) {
                    panic!("a bug in one shard's read");
                }
            },
        );
        assert_eq!(got, Err(QueryError::Storage("query worker panicked".into())));
    }
}
