//! Log entries and decoded push requests.

use crate::labels::{LabelPair, Labels};

/// One log line of a stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Unix time in nanoseconds.
    pub ts_ns: i64,
    pub line: String,
    /// Structured metadata (non-indexed labels), in the order the client sent.
    pub structured_metadata: Vec<LabelPair>,
}

impl Entry {
    pub fn new(ts_ns: i64, line: impl Into<String>) -> Self {
        Self { ts_ns, line: line.into(), structured_metadata: Vec::new() }
    }

    /// Bytes counted against limits and metrics: the line plus metadata.
    pub fn size(&self) -> usize {
        self.line.len() + self.structured_metadata.iter().map(|p| p.name.len() + p.value.len()).sum::<usize>()
    }
}

/// The entries pushed for one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamPush {
    pub labels: Labels,
    pub entries: Vec<Entry>,
}

/// The entries of one push a shard applied, as the live tail sees them: a
/// tenant and its streams, structured metadata included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedPush {
    pub tenant: String,
    pub streams: Vec<StreamPush>,
}

/// A decoded push body, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushRequest {
    pub streams: Vec<StreamPush>,
}

impl PushRequest {
    pub fn line_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }

    pub fn byte_count(&self) -> usize {
        self.streams.iter().flat_map(|s| &s.entries).map(Entry::size).sum()
    }
}
