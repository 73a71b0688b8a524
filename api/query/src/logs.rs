//! Log queries: select streams on every shard, filter their entries next to
//! the data, and merge everything by time up to the limit.

use std::collections::HashSet;

use balsa_logql::{LogExpr, Matcher};
use balsa_model::{Direction, Entry, Labels, StreamReader};

use crate::error::QueryError;
use crate::pipeline::Pipeline;

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
}

/// The entries of one stream, in the query direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamResult {
    pub labels: Labels,
    pub entries: Vec<Entry>,
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

/// Runs a log query against one reader per shard.
///
/// Each stream contributes at most `limit` filtered entries (read in the
/// query direction, so they are the only candidates); the candidates are then
/// ordered by timestamp in the query direction, ties broken by stream labels
/// (ascending for forward, descending for backward) and then by the order
/// storage returned them in. Identical entries of the same stream reported
/// by two readers are returned once.
pub fn run_log_query(readers: &[&dyn StreamReader], q: &LogQuery<'_>) -> Result<LogQueryResult, QueryError> {
    let pipeline = Pipeline::compile(&q.expr.stages)?;
    let mut stats = QueryStats::default();
    if q.end_ns <= q.start_ns {
        return Ok(LogQueryResult { streams: Vec::new(), stats });
    }
    let (start, end) = (q.start_ns, q.end_ns);
    let matchers = &q.expr.matchers;

    let mut sources: Vec<(Labels, Vec<Entry>)> = Vec::new();
    for reader in readers {
        let required = required_pairs(matchers);
        let streams = reader.streams_with(q.tenant, start, end, &required, &mut |l: &Labels| selects(matchers, l))?;
        for s in streams {
            if !selects(matchers, &s.labels) {
                continue;
            }
            stats.streams_matched += 1;
            let mut kept: Vec<Entry> = Vec::new();
            let labels = &s.labels;
            reader.entries(q.tenant, s.id, start, end, q.direction, &mut |e: &Entry| {
                if e.ts_ns < start || e.ts_ns >= end {
                    return true;
                }
                stats.lines_processed += 1;
                stats.bytes_processed += e.size() as u64;
                if pipeline.matches(labels, e) {
                    kept.push(e.clone());
                    if q.limit > 0 && kept.len() >= q.limit {
                        return false;
                    }
                }
                true
            })?;
            stats.post_filter_lines += kept.len() as u64;
            if !kept.is_empty() {
                sources.push((s.labels, kept));
            }
        }
    }

    // Rank streams by labels; replicas of one stream share a rank.
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    let mut ranks = Vec::with_capacity(sources.len());
    let mut rank = 0usize;
    for i in 0..sources.len() {
        if i > 0 && sources[i].0 != sources[i - 1].0 {
            rank += 1;
        }
        ranks.push(rank);
    }
    let stream_count = if sources.is_empty() { 0 } else { rank + 1 };

    // (ts, rank, source, position)
    let mut order: Vec<(i64, usize, usize, usize)> = Vec::new();
    for (src, (_, entries)) in sources.iter().enumerate() {
        for (pos, e) in entries.iter().enumerate() {
            order.push((e.ts_ns, ranks[src], src, pos));
        }
    }
    match q.direction {
        Direction::Forward => order.sort_unstable(),
        Direction::Backward => {
            order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)))
        }
    }

    let mut grouped: Vec<Vec<Entry>> = vec![Vec::new(); stream_count];
    let mut seen: HashSet<(usize, &Entry)> = HashSet::new();
    let mut seen_ts = None;
    let mut taken = 0usize;
    for (ts, rank, src, pos) in order {
        if q.limit > 0 && taken >= q.limit {
            break;
        }
        if seen_ts != Some(ts) {
            seen.clear();
            seen_ts = Some(ts);
        }
        let e = &sources[src].1[pos];
        if !seen.insert((rank, e)) {
            continue;
        }
        grouped[rank].push(e.clone());
        taken += 1;
    }
    stats.entries_returned = taken as u64;

    let mut streams = Vec::new();
    let mut next_src = 0;
    for (rank, entries) in grouped.into_iter().enumerate() {
        while ranks[next_src] != rank {
            next_src += 1;
        }
        if !entries.is_empty() {
            streams.push(StreamResult { labels: sources[next_src].0.clone(), entries });
        }
    }
    Ok(LogQueryResult { streams, stats })
}
