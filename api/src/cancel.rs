//! Queries stop scanning when their client goes away. A handler's future is
//! dropped when the connection closes (Grafana cancels a panel), but the scan
//! runs on a blocking thread that would go on to the end; [`Cancel`] is set
//! when the handler's future is dropped, and [`Cancellable`] readers refuse
//! to read further once it is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use balsa_model::read::ChunkStats;
use balsa_model::{Direction, Entry, Labels, LineHint, ReadError, Skipped, StreamId, StreamReader, StreamRef};

/// How many entries a reader visits between two looks at the flag.
const CHECK_EVERY: u32 = 1024;

/// Set when the request that started a scan is gone; held by the handler's
/// future through [`Cancel::guard`], which sets it when dropped.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// Sets its [`Cancel`] when dropped: keep it alive across the await.
pub struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::Relaxed);
    }
}

impl Cancel {
    pub fn guard(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn check(&self) -> Result<(), ReadError> {
        if self.is_cancelled() { Err(ReadError::new("query cancelled: the client went away")) } else { Ok(()) }
    }
}

/// A reader that stops once its [`Cancel`] is set: new calls fail, and a
/// scan in progress stops within [`CHECK_EVERY`] entries.
pub struct Cancellable<'a> {
    pub inner: &'a dyn StreamReader,
    pub cancel: &'a Cancel,
}

impl StreamReader for Cancellable<'_> {
    fn streams(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        self.cancel.check()?;
        self.inner.streams(tenant, start_ns, end_ns, select)
    }

    fn streams_with(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        required: &[(&str, &str)],
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        self.cancel.check()?;
        self.inner.streams_with(tenant, start_ns, end_ns, required, select)
    }

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
        self.cancel.check()?;
        let mut seen = 0u32;
        let skipped =
            self.inner.entries_hinted(tenant, stream, start_ns, end_ns, direction, hint, &mut |e: &Entry| {
                seen = seen.wrapping_add(1);
                (seen % CHECK_EVERY != 0 || !self.cancel.is_cancelled()) && visit(e)
            })?;
        self.cancel.check()?;
        Ok(skipped)
    }

    fn chunk_stats(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<ChunkStats>, ReadError> {
        self.cancel.check()?;
        self.inner.chunk_stats(tenant, stream, start_ns, end_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use balsa_model::MemStreams;

    #[test]
    fn a_cancelled_scan_stops_within_check_every_entries() {
        let mut mem = MemStreams::new();
        let labels = Labels::from_pairs([("app", "x")]);
        mem.push("t", labels, (0..10_000).map(|i| Entry::new(i, format!("line {i}"))));
        let cancel = Cancel::default();
        let reader = Cancellable { inner: &mem, cancel: &cancel };
        let streams = reader.streams("t", 0, i64::MAX, &mut |_| true).unwrap();
        assert_eq!(streams.len(), 1);
        let mut visited = 0u32;
        let r = reader.entries("t", streams[0].id, 0, i64::MAX, Direction::Forward, &mut |_| {
            visited += 1;
            if visited == 10 {
                drop(cancel.guard());
            }
            true
        });
        assert!(r.is_err(), "a cancelled scan reports it");
        assert!(visited < CHECK_EVERY + 10, "visited {visited} entries after the cancel");
        assert!(reader.streams("t", 0, i64::MAX, &mut |_| true).is_err());

        let fresh = Cancel::default();
        let reader = Cancellable { inner: &mem, cancel: &fresh };
        let mut all = 0;
        reader
            .entries("t", streams[0].id, 0, i64::MAX, Direction::Forward, &mut |_| {
                all += 1;
                true
            })
            .unwrap();
        assert_eq!(all, 10_000, "an uncancelled scan reads everything");
    }
}
