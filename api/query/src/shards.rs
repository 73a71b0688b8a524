//! Reading shards in parallel: one reader per shard, a few worker threads
//! that each take the next reader nobody has taken yet (shards differ in
//! size, so a fixed split would leave a thread idle), results in reader
//! order so that merging them gives the same answer on any number of cores.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use balsa_model::StreamReader;

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
pub(crate) fn map_readers<S, T: Send>(
    readers: &[&dyn StreamReader],
    threads: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &dyn StreamReader) -> T + Sync,
) -> Vec<T> {
    let threads = threads.clamp(1, readers.len().max(1));
    if threads == 1 {
        let mut state = init();
        return readers.iter().map(|r| work(&mut state, *r)).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = readers.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut state = init();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(reader) = readers.get(i) else { break };
                    let out = work(&mut state, *reader);
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()).expect("every reader was taken by a worker"))
        .collect()
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
            );
            assert_eq!(got, want, "threads={threads}");
            assert!(inits.load(Ordering::Relaxed) <= threads.min(13), "one state per worker");
        }
    }
}
