//! The read-side contract between the query engine and storage.
//!
//! Storage implements [`StreamReader`] for the data of one shard replica; the
//! query engine (which knows LogQL) drives it. Storage never sees LogQL: stream
//! selection is a predicate over label sets, and line filtering happens in the
//! engine's `visit` callback, next to the data.

use crate::{Entry, Labels, StreamId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    Forward,
    #[default]
    Backward,
}

/// A stream as the reader knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRef {
    pub id: StreamId,
    pub labels: Labels,
}

/// A read failed inside storage. The message is for operators; the HTTP
/// layer maps it to a 500 without exposing internals, except when the data
/// is in an object store that cannot be reached: that is said (503).
#[derive(Debug, Clone, thiserror::Error)]
#[error("read failed: {message}")]
pub struct ReadError {
    pub message: String,
    /// The data lives in an object store that could not be reached.
    pub unavailable: bool,
}

impl ReadError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), unavailable: false }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { message: message.into(), unavailable: true }
    }
}

pub trait StreamReader: Send + Sync {
    /// Streams of `tenant` that hold data overlapping `[start_ns, end_ns]` and
    /// whose labels `select` accepts, in no particular order.
    fn streams(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError>;

    /// Like [`streams`](Self::streams), with label pairs that every wanted
    /// stream carries (from `=` matchers), so storage can narrow candidates
    /// through its index before calling `select`. `select` stays the judge.
    fn streams_with(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        required: &[(&str, &str)],
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        let _ = required;
        self.streams(tenant, start_ns, end_ns, select)
    }

    /// Entries of one stream with `start_ns <= ts < end_ns`, in timestamp order
    /// (`Forward`: oldest first; `Backward`: newest first; entries with equal
    /// timestamps in a fixed order), until `visit` returns `false`.
    fn entries(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        visit: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<(), ReadError>;
}

/// An in-memory [`StreamReader`] for unit tests of code above storage.
#[derive(Default, Debug, Clone)]
pub struct MemStreams {
    streams: Vec<(String, StreamRef, Vec<Entry>)>,
}

impl MemStreams {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds entries to a stream, keeping each stream sorted by (ts, line).
    pub fn push(&mut self, tenant: &str, labels: Labels, entries: impl IntoIterator<Item = Entry>) {
        let id = crate::stream_id(tenant, &labels);
        let idx = match self.streams.iter().position(|(t, s, _)| t == tenant && s.id == id) {
            Some(i) => i,
            None => {
                self.streams.push((tenant.to_string(), StreamRef { id, labels }, Vec::new()));
                self.streams.len() - 1
            }
        };
        let list = &mut self.streams[idx].2;
        list.extend(entries);
        list.sort_by(|a, b| a.ts_ns.cmp(&b.ts_ns).then_with(|| a.line.cmp(&b.line)));
        list.dedup();
    }
}

impl StreamReader for MemStreams {
    fn streams(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        Ok(self
            .streams
            .iter()
            .filter(|(t, _, e)| t == tenant && e.iter().any(|e| e.ts_ns >= start_ns && e.ts_ns <= end_ns))
            .filter(|(_, s, _)| select(&s.labels))
            .map(|(_, s, _)| s.clone())
            .collect())
    }

    fn entries(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        visit: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<(), ReadError> {
        let Some((_, _, list)) = self.streams.iter().find(|(t, s, _)| t == tenant && s.id == stream) else {
            return Ok(());
        };
        let in_range = |e: &&Entry| e.ts_ns >= start_ns && e.ts_ns < end_ns;
        match direction {
            Direction::Forward => {
                for e in list.iter().filter(in_range) {
                    if !visit(e) {
                        break;
                    }
                }
            }
            Direction::Backward => {
                for e in list.iter().rev().filter(in_range) {
                    if !visit(e) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}
