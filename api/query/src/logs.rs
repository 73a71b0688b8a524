//! Log queries: select streams on every shard, run the pipeline on their
//! entries next to the data, and merge everything by time up to the limit.
//! Result streams are keyed by each entry's final label set (stream labels,
//! structured metadata and parsed labels after `drop`, `keep` and
//! `label_format`), as in Loki.

use std::collections::{HashMap, HashSet};

use balsa_logql::{LogExpr, Matcher};
use balsa_model::{Direction, Entry, LabelPair, Labels, LineHint, StreamReader};

use crate::error::QueryError;
use crate::pipeline::{LabelSet, Pipeline};
use crate::shards;

/// A log query over `[start_ns, end_ns)`.
#[derive(Clone, Copy, Debug)]
pub struct LogQuery<'a> {
    pub tenant: &'a str,
    pub expr: &'a LogExpr,
    /// Inclusive, Unix nanoseconds.
    pub start_ns: i64,
    /// Exclusive, Unix nanoseconds.
    pub end_ns: i64,
    /// Most entries returned across all streams; 0 means no limit.
    pub limit: usize,
    pub direction: Direction,
    /// Loki's `interval`: only entries at least this far (ns) from the last
    /// returned one, across all streams; 0 returns every entry.
    pub interval_ns: i64,
    /// When the query gives up with [`QueryError::Timeout`] (`query_timeout`).
    pub deadline: Option<std::time::Instant>,
}

/// One entry of a log query result: its (possibly rewritten) line and the
/// label categories Loki reports with `categorize-labels`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogEntry {
    pub ts_ns: i64,
    pub line: String,
    /// Structured metadata left after the pipeline, sorted by name.
    pub structured_metadata: Vec<LabelPair>,
    /// Labels added by parsers and `label_format`, with `__error__` and
    /// `__error_details__` when set; sorted by name.
    pub parsed: Vec<LabelPair>,
}

impl LogEntry {
    /// An entry whose pipeline added nothing: its structured metadata as is.
    pub fn from_entry(e: &Entry) -> Self {
        let mut sm = e.structured_metadata.clone();
        sm.sort();
        Self { ts_ns: e.ts_ns, line: e.line.clone(), structured_metadata: sm, parsed: Vec::new() }
    }

    /// The stream labels of an entry of a stream with (full) `labels`: those
    /// that are neither structured metadata nor parsed labels.
    pub fn stream_labels(&self, labels: &Labels) -> Labels {
        let hidden =
            |n: &str| self.structured_metadata.iter().any(|p| p.name == n) || self.parsed.iter().any(|p| p.name == n);
        Labels::new(labels.iter().filter(|p| !hidden(&p.name)).cloned().collect())
    }
}

/// The entries of one result stream, in the query direction. `labels` are
/// all the labels of its entries (stream labels, structured metadata and
/// parsed labels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamResult {
    pub labels: Labels,
    pub entries: Vec<LogEntry>,
}

/// What a query did, for the `stats` block of responses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Streams whose labels matched the selector.
    pub streams_matched: u64,
    /// Entries read from storage (before filtering).
    pub lines_processed: u64,
    /// Bytes of those entries (line plus structured metadata).
    pub bytes_processed: u64,
    /// Entries that passed the pipeline (at most `limit` per stream).
    pub post_filter_lines: u64,
    /// Entries in the result.
    pub entries_returned: u64,
}

impl QueryStats {
    /// Adds another part's counts (`entries_returned` is set by the merge).
    pub(crate) fn add(&mut self, other: &QueryStats) {
        self.streams_matched += other.streams_matched;
        self.lines_processed += other.lines_processed;
        self.bytes_processed += other.bytes_processed;
        self.post_filter_lines += other.post_filter_lines;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQueryResult {
    /// Streams sorted by labels; each with its entries in query direction.
    pub streams: Vec<StreamResult>,
    pub stats: QueryStats,
}

/// Label pairs every stream selected by `matchers` must carry: the `=`
/// matchers with a non-empty value. Storage narrows candidates with them.
pub fn required_pairs(matchers: &[Matcher]) -> Vec<(&str, &str)> {
    matchers
        .iter()
        .filter(|m| m.op == balsa_logql::MatchOp::Eq && !m.value.is_empty())
        .map(|m| (m.name.as_str(), m.value.as_str()))
        .collect()
}

/// Whether a stream's labels satisfy every matcher (a missing label is "").
pub fn selects(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

/// Result label sets seen so far, by hash (verified on collision).
#[derive(Default)]
struct Groups {
    labels: Vec<Labels>,
    /// Per label set, its [`LabelSet::hash`].
    hashes: Vec<u64>,
    by_hash: HashMap<u64, Vec<usize>>,
}

impl Groups {
    fn index(&mut self, l: &LabelSet) -> usize {
        let hash = l.hash();
        let candidates = self.by_hash.entry(hash).or_default();
        if let Some(&i) = candidates.iter().find(|&&i| l.same_as(&self.labels[i])) {
            return i;
        }
        self.labels.push(l.to_labels());
        self.hashes.push(hash);
        candidates.push(self.labels.len() - 1);
        self.labels.len() - 1
    }

    /// Adds another shard's label sets; where each of them now is.
    fn absorb(&mut self, other: Groups) -> Vec<usize> {
        let mut at = Vec::with_capacity(other.labels.len());
        for (labels, hash) in other.labels.into_iter().zip(other.hashes) {
            let candidates = self.by_hash.entry(hash).or_default();
            let i = match candidates.iter().find(|&&i| self.labels[i] == labels) {
                Some(&i) => i,
                None => {
                    self.labels.push(labels);
                    self.hashes.push(hash);
                    candidates.push(self.labels.len() - 1);
                    self.labels.len() - 1
                }
            };
            at.push(i);
        }
        at
    }
}

/// What one shard contributed: its result label sets and, per selected
/// stream, (index into `groups`, entry) in read order.
#[derive(Default)]
struct ShardPart {
    groups: Groups,
    sources: Vec<Vec<(usize, LogEntry)>>,
    stats: QueryStats,
}

/// Runs the pipeline over every selected stream of one shard.
fn read_shard(
    reader: &dyn StreamReader,
    q: &LogQuery<'_>,
    pipeline: &Pipeline,
    hint: &LineHint,
) -> Result<ShardPart, QueryError> {
    let (start, end) = (q.start_ns, q.end_ns);
    let matchers = &q.expr.matchers;
    let mut part = ShardPart::default();
    let ShardPart { groups, sources, stats } = &mut part;
    let mut seen: u64 = 0;
    let mut timed_out = false;
    let required = required_pairs(matchers);
    let streams = reader.streams_with(q.tenant, start, end, &required, &mut |l: &Labels| selects(matchers, l))?;
    for s in streams {
        if !selects(matchers, &s.labels) {
            continue;
        }
        stats.streams_matched += 1;
        let mut kept: Vec<(usize, LogEntry)> = Vec::new();
        let mut sp = pipeline.for_stream(&s.labels);
        let skipped = reader.entries_hinted(q.tenant, s.id, start, end, q.direction, hint, &mut |e: &Entry| {
            if e.ts_ns < start || e.ts_ns >= end {
                return true;
            }
            seen += 1;
            if seen.is_multiple_of(shards::DEADLINE_EVERY) && shards::past(q.deadline) {
                timed_out = true;
                return false;
            }
            stats.lines_processed += 1;
            stats.bytes_processed += e.size() as u64;
            let Some(p) = sp.process(e) else { return true };
            let group = groups.index(p.labels);
            kept.push((
                group,
                LogEntry {
                    ts_ns: e.ts_ns,
                    line: p.line.to_string(),
                    structured_metadata: p.labels.structured_metadata(),
                    parsed: p.labels.parsed(),
                },
            ));
            // With an interval, skipped entries don't count towards the limit.
            q.interval_ns > 0 || !(q.limit > 0 && kept.len() >= q.limit)
        })?;
        // Skipped entries are not visited: look at the clock once per stream too.
        if timed_out || shards::past(q.deadline) {
            return Err(QueryError::Timeout);
        }
        stats.lines_processed += skipped.lines;
        stats.bytes_processed += skipped.bytes;
        stats.post_filter_lines += kept.len() as u64;
        if !kept.is_empty() {
            sources.push(kept);
        }
    }
    Ok(part)
}

/// Runs a log query against one reader per shard.
///
/// Shards are read in parallel (see [`crate::shards`]). Each stream
/// contributes at most `limit` entries that pass the pipeline (read in the
/// query direction, so they are the only candidates); the candidates are
/// then ordered by timestamp in the query direction, ties broken by result
/// labels (ascending for forward, descending for backward) and then by the
/// order readers and storage returned them in. Identical results of the
/// same stream reported by two readers are returned once.
pub fn run_log_query(readers: &[&dyn StreamReader], q: &LogQuery<'_>) -> Result<LogQueryResult, QueryError> {
    let pipeline = Pipeline::compile(&q.expr.stages)?;
    let hint = pipeline.line_hint();
    let mut stats = QueryStats::default();
    if q.end_ns <= q.start_ns {
        return Ok(LogQueryResult { streams: Vec::new(), stats });
    }
    // Each worker compiles its own pipeline, so that threads do not share
    // (and contend for) the match caches of its regexes.
    let parts = shards::map_readers(
        readers,
        shards::worker_threads(),
        || Pipeline::compile(&q.expr.stages),
        |pipeline, reader| match pipeline {
            Ok(p) => read_shard(reader, q, p, &hint),
            Err(e) => Err(e.clone()),
        },
    )?;

    // One index over every shard's result label sets, in reader order.
    let mut groups = Groups::default();
    let mut sources: Vec<Vec<(usize, LogEntry)>> = Vec::new();
    for part in parts {
        let part = part?;
        let at = groups.absorb(part.groups);
        for mut entries in part.sources {
            for (g, _) in &mut entries {
                *g = at[*g];
            }
            sources.push(entries);
        }
        stats.add(&part.stats);
    }
    let labels_of = groups.labels;

    // Rank result label sets.
    let mut sorted: Vec<usize> = (0..labels_of.len()).collect();
    sorted.sort_by(|&a, &b| labels_of[a].cmp(&labels_of[b]));
    let mut rank_of = vec![0usize; labels_of.len()];
    for (rank, &g) in sorted.iter().enumerate() {
        rank_of[g] = rank;
    }

    // (ts, rank, source, position)
    let mut order: Vec<(i64, usize, usize, usize)> = Vec::new();
    for (src, entries) in sources.iter().enumerate() {
        for (pos, (g, e)) in entries.iter().enumerate() {
            order.push((e.ts_ns, rank_of[*g], src, pos));
        }
    }
    match q.direction {
        Direction::Forward => order.sort_unstable(),
        Direction::Backward => {
            order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)))
        }
    }

    let mut grouped: Vec<Vec<LogEntry>> = vec![Vec::new(); sorted.len()];
    let mut seen: HashSet<(usize, &LogEntry)> = HashSet::new();
    let mut seen_ts = None;
    let mut taken = 0usize;
    let mut last_ts: Option<i64> = None;
    for (ts, rank, src, pos) in order {
        if q.limit > 0 && taken >= q.limit {
            break;
        }
        if seen_ts != Some(ts) {
            seen.clear();
            seen_ts = Some(ts);
        }
        let e = &sources[src][pos].1;
        if !seen.insert((rank, e)) {
            continue;
        }
        if let (true, Some(last)) = (q.interval_ns > 0, last_ts) {
            let far_enough = match q.direction {
                Direction::Forward => ts >= last.saturating_add(q.interval_ns),
                Direction::Backward => ts <= last.saturating_sub(q.interval_ns),
            };
            if !far_enough {
                continue;
            }
        }
        last_ts = Some(ts);
        grouped[rank].push(e.clone());
        taken += 1;
    }
    stats.entries_returned = taken as u64;

    let mut labels: Vec<Option<Labels>> = labels_of.into_iter().map(Some).collect();
    let mut streams = Vec::new();
    for (rank, entries) in grouped.into_iter().enumerate() {
        if !entries.is_empty() {
            let labels = labels[sorted[rank]].take().unwrap_or_default();
            streams.push(StreamResult { labels, entries });
        }
    }
    Ok(LogQueryResult { streams, stats })
}
