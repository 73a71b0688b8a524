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

/// What every line the caller wants holds: for each group, at least one of
/// its needles (a leading `|= "a" or "b"` line filter is one group). A hint,
/// not a filter: the caller still filters every entry it is given, and
/// storage may leave out entries it can tell hold no needle of some group,
/// usually whole blocks after one search of their bytes. A hint with no
/// groups leaves nothing out.
#[derive(Clone, Debug, Default)]
pub struct LineHint {
    groups: Vec<Vec<Finder>>,
}

/// One thing a wanted line may hold.
#[derive(Clone, Debug)]
pub enum Needle {
    /// These bytes.
    Text(Vec<u8>),
    /// Text a [`BytePattern`] finds.
    Pattern(std::sync::Arc<dyn BytePattern>),
}

/// A search the engine knows and storage runs as is, such as a regular
/// expression without anchors or word boundaries.
pub trait BytePattern: Send + Sync + std::fmt::Debug {
    /// Whether `bytes` holds a match. A match inside a line must also be
    /// found when the line is part of bigger text (a block of encoded
    /// entries), so the pattern may not look at what surrounds its match.
    fn is_in(&self, bytes: &[u8]) -> bool;
}

#[derive(Clone, Debug)]
enum Finder {
    Text(Box<memchr::memmem::Finder<'static>>),
    Pattern(std::sync::Arc<dyn BytePattern>),
}

impl Finder {
    fn is_in(&self, bytes: &[u8]) -> bool {
        match self {
            Finder::Text(f) => f.find(bytes).is_some(),
            Finder::Pattern(p) => p.is_in(bytes),
        }
    }
}

impl LineHint {
    /// A hint from groups of byte strings; an empty group would match no line,
    /// so it is a caller's mistake and is ignored rather than hiding everything.
    pub fn new<G, S>(groups: impl IntoIterator<Item = G>) -> Self
    where
        G: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        Self::of(groups.into_iter().map(|g| g.into_iter().map(|s| Needle::Text(s.as_ref().to_vec()))))
    }

    /// A hint from groups of needles (empty groups are ignored, as in [`LineHint::new`]).
    pub fn of<G: IntoIterator<Item = Needle>>(groups: impl IntoIterator<Item = G>) -> Self {
        let groups = groups
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .map(|n| match n {
                        Needle::Text(t) => Finder::Text(Box::new(memchr::memmem::Finder::new(&t).into_owned())),
                        Needle::Pattern(p) => Finder::Pattern(p),
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|g| !g.is_empty())
            .collect();
        Self { groups }
    }

    /// Whether the hint can leave anything out.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether `bytes` holds a needle of every group. Any text that holds a
    /// wanted line (a line, or a block of encoded entries) passes.
    pub fn may_contain(&self, bytes: &[u8]) -> bool {
        self.groups.iter().all(|g| g.iter().any(|f| f.is_in(bytes)))
    }
}

/// Entries in a read's time range that storage left out because of a
/// [`LineHint`]: they count as processed in query statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    pub lines: u64,
    /// Their [`Entry::size`] in total.
    pub bytes: u64,
}

impl Skipped {
    pub fn add(&mut self, e: &Entry) {
        self.lines += 1;
        self.bytes += e.size() as u64;
    }
}

impl std::ops::AddAssign for Skipped {
    fn add_assign(&mut self, o: Self) {
        self.lines += o.lines;
        self.bytes += o.bytes;
    }
}

/// What the index knows of one chunk of a stream (a sealed chunk, or the
/// head chunk still being filled), without its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkStats {
    /// Time of the chunk's oldest and newest entry (both inclusive).
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u64,
    /// [`Entry::size`] of its entries in total (uncompressed).
    pub bytes: u64,
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
    ) -> Result<(), ReadError> {
        self.entries_hinted(tenant, stream, start_ns, end_ns, direction, &LineHint::default(), visit).map(|_| ())
    }

    /// Like [`entries`](Self::entries), but entries whose lines `hint` rules
    /// out may be left out; they are not visited and are returned as
    /// [`Skipped`]. Entries past the point where `visit` asked to stop are
    /// neither visited nor skipped. An implementation may ignore the hint.
    #[allow(clippy::too_many_arguments)]
    fn entries_hinted(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        hint: &LineHint,
        visit: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<Skipped, ReadError>;

    /// The chunks of one stream that hold data in `[start_ns, end_ns)`
    /// (`min_ts < end_ns` and `max_ts >= start_ns`), each described whole
    /// (also what lies outside the range), in no particular order: index
    /// statistics, taken from chunk metadata without reading entries.
    ///
    /// This default reads the entries in the range and reports them as one
    /// chunk (none when there are none), for readers without metadata.
    fn chunk_stats(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<ChunkStats>, ReadError> {
        let mut chunk: Option<ChunkStats> = None;
        self.entries(tenant, stream, start_ns, end_ns, Direction::Forward, &mut |e: &Entry| {
            let c = chunk.get_or_insert(ChunkStats { min_ts: e.ts_ns, max_ts: e.ts_ns, entries: 0, bytes: 0 });
            c.min_ts = c.min_ts.min(e.ts_ns);
            c.max_ts = c.max_ts.max(e.ts_ns);
            c.entries += 1;
            c.bytes += e.size() as u64;
            true
        })?;
        Ok(chunk.into_iter().collect())
    }
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

    /// Leaves out every entry the hint rules out, one line at a time, so that
    /// tests above storage see hints taken at their word.
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
        let mut skipped = Skipped::default();
        let Some((_, _, list)) = self.streams.iter().find(|(t, s, _)| t == tenant && s.id == stream) else {
            return Ok(skipped);
        };
        let mut in_range = list.iter().filter(|e| e.ts_ns >= start_ns && e.ts_ns < end_ns);
        let mut step = |e: &Entry| {
            if hint.may_contain(e.line.as_bytes()) {
                visit(e)
            } else {
                skipped.add(e);
                true
            }
        };
        match direction {
            Direction::Forward => in_range.all(&mut step),
            Direction::Backward => in_range.rev().all(&mut step),
        };
        Ok(skipped)
    }
}

/// An in-memory [`StreamReader`] of chunk statistics only, for tests of the
/// index endpoints: it holds no entries, and reading any panics.
#[derive(Default, Debug, Clone)]
pub struct MemChunks {
    streams: Vec<(String, StreamRef, Vec<ChunkStats>)>,
}

impl MemChunks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a stream of `tenant` with these chunks.
    pub fn push(&mut self, tenant: &str, labels: Labels, chunks: impl IntoIterator<Item = ChunkStats>) {
        let id = crate::stream_id(tenant, &labels);
        self.streams.push((tenant.to_string(), StreamRef { id, labels }, chunks.into_iter().collect()));
    }
}

impl StreamReader for MemChunks {
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
            .filter(|(t, _, c)| t == tenant && c.iter().any(|c| c.min_ts <= end_ns && c.max_ts >= start_ns))
            .filter(|(_, s, _)| select(&s.labels))
            .map(|(_, s, _)| s.clone())
            .collect())
    }

    fn entries_hinted(
        &self,
        _: &str,
        _: StreamId,
        _: i64,
        _: i64,
        _: Direction,
        _: &LineHint,
        _: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<Skipped, ReadError> {
        panic!("MemChunks holds chunk statistics only: the index endpoints never read entries")
    }

    fn chunk_stats(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<ChunkStats>, ReadError> {
        Ok(self
            .streams
            .iter()
            .filter(|(t, s, _)| t == tenant && s.id == stream)
            .flat_map(|(_, _, c)| c.iter().copied())
            .filter(|c| c.min_ts < end_ns && c.max_ts >= start_ns)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_hint_needs_one_string_of_every_group() {
        let hint = LineHint::new([vec!["GET", "PUT"], vec!["/api"]]);
        assert!(hint.may_contain(b"PUT /api/v1"));
        assert!(hint.may_contain(b"x GET y /api"));
        assert!(!hint.may_contain(b"GET /health"), "the second group is missing");
        assert!(!hint.may_contain(b"POST /api"), "the first group is missing");
        assert!(LineHint::default().may_contain(b""), "no groups rule nothing out");
        let empty_group: Vec<Vec<&str>> = vec![vec![]];
        assert!(LineHint::new(empty_group).is_empty(), "an empty group is ignored, not a hide-all");
        assert!(LineHint::new([[""]]).may_contain(b""), "an empty string is in every line");
    }

    /// Digits followed by "ms", as a stand-in for an engine's pattern.
    #[derive(Debug)]
    struct DigitsMs;

    impl BytePattern for DigitsMs {
        fn is_in(&self, bytes: &[u8]) -> bool {
            bytes.windows(3).any(|w| w[0].is_ascii_digit() && &w[1..] == b"ms")
        }
    }

    #[test]
    fn pattern_needles_mix_with_text_in_a_group() {
        let p: std::sync::Arc<dyn BytePattern> = std::sync::Arc::new(DigitsMs);
        let hint = LineHint::of([
            vec![Needle::Pattern(p), Needle::Text(b"slow".to_vec())],
            vec![Needle::Text(b"GET".to_vec())],
        ]);
        assert!(hint.may_contain(b"GET took 5ms"));
        assert!(hint.may_contain(b"GET was slow"));
        assert!(!hint.may_contain(b"GET took ms"), "neither needle of the first group");
        assert!(!hint.may_contain(b"PUT took 5ms"), "the second group is missing");
    }

    #[test]
    fn mem_streams_skip_what_the_hint_rules_out_and_count_it() {
        let mut m = MemStreams::new();
        let labels = Labels::from_pairs([("app", "x")]);
        m.push("t", labels.clone(), [Entry::new(1, "a needle"), Entry::new(2, "hay"), Entry::new(3, "needle b")]);
        let id = crate::stream_id("t", &labels);
        let hint = LineHint::new([["needle"]]);
        let mut seen = Vec::new();
        let skipped = m
            .entries_hinted("t", id, 0, 10, Direction::Backward, &hint, &mut |e| {
                seen.push(e.ts_ns);
                true
            })
            .unwrap();
        assert_eq!(seen, vec![3, 1]);
        assert_eq!(skipped, Skipped { lines: 1, bytes: 3 });
    }
}
