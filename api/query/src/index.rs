//! Index statistics and log volumes (`/loki/api/v1/index/stats`,
//! `index/volume`, `index/volume_range`), from chunk metadata only
//! ([`StreamReader::chunk_stats`]): no entry is read.
//!
//! Loki's rules, followed here:
//! - A chunk counts when it overlaps `[from, through)` (its last entry at or
//!   after `from`, its first before `through`; `overlap` in
//!   `pkg/storage/stores/shipper/indexshipper/tsdb/index/index.go`), and its
//!   entries and bytes count in proportion to how much of its time span lies
//!   in the range (`util.GetFactorOfTime`, truncated per chunk as
//!   `ChunkStats.AddChunk` does). A stream counts when one of its chunks
//!   does, as in Loki's ingesters (`instance.GetStats`/`GetVolume`), even when
//!   its prorated entries are 0 (Loki's TSDB index then leaves it out).
//! - Volumes aggregate by series (the stream's labels named by the
//!   selector's matchers, or by `targetLabels`; all labels for `{}`) or by
//!   label name, per time bucket; each bucket keeps its `limit` largest
//!   (`seriesvolume.MapToVolumeResponse`), and buckets become a vector or a
//!   matrix (`queryrange.ToPrometheusResponse`).
//!
//! Bytes are [`Entry::size`](balsa_model::Entry::size) of the entries, exactly,
//! as Loki's ingesters count a chunk's uncompressed size; Loki's TSDB index
//! rounds each chunk to whole KiB, so small flushed streams show 0 bytes
//! there.

use std::collections::{BTreeSet, HashMap};

use balsa_logql::{Expr, MatchOp, Matcher};
use balsa_model::read::ChunkStats;
use balsa_model::{Labels, StreamReader};

use crate::error::QueryError;
use crate::logs::{required_pairs, selects};
use crate::shards;

/// `seriesvolume.MatchAny`: the one selector volume queries accept without
/// a non-empty matcher.
pub const MATCH_ANY: &str = "{}";
/// `seriesvolume.DefaultLimit`.
pub const DEFAULT_VOLUME_LIMIT: usize = 100;
/// `limits_config.volume_max_series` default (`-limits.volume-max-series`).
pub const DEFAULT_VOLUME_MAX_SERIES: usize = 1000;

const NS_PER_MS: i64 = 1_000_000;
const NS_PER_S: i64 = 1_000_000_000;

/// Loki's `ErrParseMatchers`.
const ONLY_MATCHERS: &str = "only label matchers are supported";

/// Loki's `syntax.ParseMatchers(query, true)`: a stream selector and
/// nothing else, with a matcher that does not accept the empty string. With
/// `match_any`, the query `{}` (exactly) is accepted and selects every
/// stream (no matchers), as the volume endpoints do.
pub fn parse_selector(query: &str, match_any: bool) -> Result<Vec<Matcher>, QueryError> {
    if match_any && query == MATCH_ANY {
        return Ok(Vec::new());
    }
    match balsa_logql::parse_expr(query)? {
        Expr::Log(log) if log.stages.is_empty() => Ok(log.matchers),
        _ => Err(QueryError::BadQuery(ONLY_MATCHERS.into())),
    }
}

/// The answer of `index/stats`, in Loki's field order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub streams: u64,
    pub chunks: u64,
    pub bytes: u64,
    pub entries: u64,
}

/// Statistics of the streams of `tenant` that `matchers` select, over the
/// request's `[start_ns, end_ns]` rounded outwards to milliseconds as Loki's
/// request codec does (`util.RoundToMilliseconds`; the end is exclusive).
pub fn index_stats(
    readers: &[&dyn StreamReader],
    tenant: &str,
    matchers: &[Matcher],
    start_ns: i64,
    end_ns: i64,
) -> Result<IndexStats, QueryError> {
    let (from, through) = round_to_ms(start_ns, end_ns);
    let (from, through) = (from * NS_PER_MS, through * NS_PER_MS);
    let parts = for_each_stream(readers, tenant, matchers, from, through, IndexStats::default, |acc, _, chunks| {
        let p = prorate(chunks, from, through);
        if p.chunks > 0 {
            acc.streams += 1;
            acc.chunks += p.chunks;
            acc.bytes += p.bytes;
            acc.entries += p.entries;
        }
    })?;
    Ok(parts.into_iter().fold(IndexStats::default(), |mut a, p| {
        a.streams += p.streams;
        a.chunks += p.chunks;
        a.bytes += p.bytes;
        a.entries += p.entries;
        a
    }))
}

/// `aggregateBy` of the volume endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AggregateBy {
    /// One result per label set (`series`, the default).
    #[default]
    Series,
    /// One result per label name, with an empty value (`labels`).
    Labels,
}

impl AggregateBy {
    /// `series` or `labels` (Loki's `seriesvolume.ValidateAggregateBy`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "series" => Some(Self::Series),
            "labels" => Some(Self::Labels),
            _ => None,
        }
    }
}

/// A volume query.
#[derive(Clone, Copy, Debug)]
pub struct VolumeQuery<'a> {
    pub tenant: &'a str,
    /// The selector's matchers ([`parse_selector`]); none selects every stream.
    pub matchers: &'a [Matcher],
    /// `targetLabels`: the labels to aggregate by; streams must carry them all.
    pub target_labels: &'a [String],
    pub aggregate_by: AggregateBy,
    /// The most results kept per time bucket.
    pub limit: usize,
    /// More distinct results than this in a bucket fail the query.
    pub max_series: usize,
}

/// One result of a volume query: its labels and `(time, bytes)` points in
/// time order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSeries {
    pub labels: Labels,
    pub points: Vec<(i64, u64)>,
}

/// Volume results, largest first. `matrix` when some result has more than
/// one point (Loki then answers a matrix, else a vector).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volumes {
    pub series: Vec<VolumeSeries>,
    pub matrix: bool,
}

/// Volumes over the request's `[start_ns, end_ns]`, in buckets of `step_ns`
/// (`volume_range`; 0 for one bucket: `volume`), bucketed as Loki's query
/// frontend does (`NewVolumeMiddleware` with `util.ForInterval`): the range
/// is rounded to milliseconds, buckets are aligned to multiples of the step
/// and end 1 ms before the next one (the last ends at the range's end), each
/// bucket's point is at its end, and each bucket reads whole seconds (its
/// start and end truncated to the second).
pub fn volume(
    readers: &[&dyn StreamReader],
    q: &VolumeQuery,
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
) -> Result<Volumes, QueryError> {
    let buckets = buckets(start_ns, end_ns, step_ns);
    let (Some(from), Some(through)) = (buckets.iter().map(|b| b.from).min(), buckets.iter().map(|b| b.through).max())
    else {
        return Ok(Volumes::default());
    };
    let sel = VolumeSelector::new(q)?;
    let parts = for_each_stream(
        readers,
        q.tenant,
        &sel.matchers,
        from,
        through,
        || vec![HashMap::<String, (Labels, u64)>::new(); buckets.len()],
        |acc, labels, chunks| {
            for (b, volumes) in buckets.iter().zip(acc.iter_mut()) {
                let p = prorate(chunks, b.from, b.through);
                if p.chunks > 0 {
                    sel.add(volumes, labels, p.bytes);
                }
            }
        },
    )?;
    // Per bucket: merge the shards, check the series limit, keep the largest.
    let mut by_name: HashMap<String, (Labels, Vec<(i64, u64)>)> = HashMap::new();
    for (i, b) in buckets.iter().enumerate() {
        let mut merged: HashMap<String, (Labels, u64)> = HashMap::new();
        for part in &parts {
            for (name, (labels, v)) in &part[i] {
                merged.entry(name.clone()).or_insert_with(|| (labels.clone(), 0)).1 += v;
            }
        }
        if merged.len() > q.max_series {
            return Err(QueryError::Execution(format!(
                "the query hit the max number of series limit (limit: {} series)",
                q.max_series
            )));
        }
        let mut top: Vec<(String, Labels, u64)> = merged.into_iter().map(|(n, (l, v))| (n, l, v)).collect();
        top.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        top.truncate(q.limit);
        for (name, labels, v) in top {
            by_name.entry(name).or_insert_with(|| (labels, Vec::new())).1.push((b.ts, v));
        }
    }
    let matrix = by_name.values().any(|(_, points)| points.len() > 1);
    let mut series: Vec<(String, VolumeSeries)> = by_name
        .into_iter()
        .map(|(name, (labels, mut points))| {
            points.sort_by_key(|p| p.0);
            (name, VolumeSeries { labels, points })
        })
        .collect();
    // By the first point's value (what matters for instant queries), then name.
    series.sort_by(|(an, a), (bn, b)| b.points[0].1.cmp(&a.points[0].1).then_with(|| an.cmp(bn)));
    Ok(Volumes { series: series.into_iter().map(|(_, s)| s).collect(), matrix })
}

/// Which streams a volume query reads and what each adds up under
/// (`util.PrepareLabelsAndMatchers`).
struct VolumeSelector<'a> {
    matchers: Vec<Matcher>,
    /// Label names results keep.
    labels_to_match: BTreeSet<&'a str>,
    /// Every label counts (`{}` without target labels).
    include_all: bool,
    aggregate_by: AggregateBy,
    has_targets: bool,
}

impl<'a> VolumeSelector<'a> {
    fn new(q: &VolumeQuery<'a>) -> Result<Self, QueryError> {
        let mut matchers = q.matchers.to_vec();
        let has_targets = !q.target_labels.is_empty();
        let labels_to_match: BTreeSet<&str> = if has_targets {
            // Streams must carry every target label: a `=~".+"` matcher for
            // each one the selector does not name.
            for t in q.target_labels {
                if !q.matchers.iter().any(|m| &m.name == t) {
                    matchers.push(Matcher::new(MatchOp::Re, t.as_str(), ".+").map_err(QueryError::BadQuery)?);
                }
            }
            q.target_labels.iter().map(String::as_str).collect()
        } else {
            q.matchers.iter().map(|m| m.name.as_str()).collect()
        };
        let include_all = !has_targets && q.matchers.is_empty();
        Ok(Self { matchers, labels_to_match, include_all, aggregate_by: q.aggregate_by, has_targets })
    }

    fn keeps(&self, name: &str) -> bool {
        self.include_all || self.labels_to_match.contains(name)
    }

    /// Adds `bytes` of a stream with `labels` to a bucket's volumes.
    fn add(&self, volumes: &mut HashMap<String, (Labels, u64)>, labels: &Labels, bytes: u64) {
        match self.aggregate_by {
            AggregateBy::Series => {
                let kept = Labels::new(labels.iter().filter(|p| self.keeps(&p.name)).cloned().collect());
                let name = kept.to_string();
                volumes.entry(name).or_insert_with(|| (kept, 0)).1 += bytes;
            }
            AggregateBy::Labels => {
                for p in labels.iter().filter(|p| !self.has_targets || self.keeps(&p.name)) {
                    let entry = volumes
                        .entry(p.name.clone())
                        .or_insert_with(|| (Labels::from_pairs([(p.name.as_str(), "")]), 0));
                    entry.1 += bytes;
                }
            }
        }
    }
}

/// One time bucket of a volume query: its point's time and the range it
/// reads, `[from, through)`, all in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    ts: i64,
    from: i64,
    through: i64,
}

/// Loki's `util.RoundToMilliseconds`: the start down, the end up, in ms.
fn round_to_ms(start_ns: i64, end_ns: i64) -> (i64, i64) {
    let through = end_ns.div_euclid(NS_PER_MS) + i64::from(end_ns.rem_euclid(NS_PER_MS) != 0);
    (start_ns.div_euclid(NS_PER_MS), through)
}

/// The buckets of `NewVolumeMiddleware`: `util.ForInterval(step, from,
/// through, endTimeInclusive=true)` over the range in milliseconds (the step
/// truncated to milliseconds, as `VolumeRequest.Step` holds it); each
/// sub-request reads `model.TimeFromUnix(t.Unix())` of its bounds.
fn buckets(start_ns: i64, end_ns: i64, step_ns: i64) -> Vec<Bucket> {
    let (from, through) = round_to_ms(start_ns, end_ns);
    let step = step_ns / NS_PER_MS;
    let seconds = |ms: i64| ms.div_euclid(1000) * NS_PER_S;
    let bucket = |start: i64, end: i64| Bucket { ts: end * NS_PER_MS, from: seconds(start), through: seconds(end) };
    if step <= 0 {
        return vec![bucket(from, through)];
    }
    let mut out = Vec::new();
    let mut start = from - from.rem_euclid(step);
    while start < through {
        let next = start.saturating_add(step);
        let end = if next >= through { through } else { next - 1 };
        out.push(bucket(if out.is_empty() { from } else { start }, end));
        start = next;
    }
    out
}

/// A stream's chunks prorated over `[from, through)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Prorated {
    chunks: u64,
    entries: u64,
    bytes: u64,
}

/// `ChunkStats.AddChunk` for every chunk overlapping `[from, through)`.
fn prorate(chunks: &[ChunkStats], from: i64, through: i64) -> Prorated {
    let mut p = Prorated::default();
    for c in chunks.iter().filter(|c| from <= c.max_ts && through > c.min_ts) {
        let f = factor_of_time(from, through, c.min_ts, c.max_ts);
        p.chunks += 1;
        p.entries += (c.entries as f64 * f) as u64;
        p.bytes += (c.bytes as f64 * f) as u64;
    }
    p
}

/// Loki's `util.GetFactorOfTime`: the share of `[min, max]` inside
/// `[from, through]`; 1 for a chunk of one instant.
fn factor_of_time(from: i64, through: i64, min: i64, max: i64) -> f64 {
    if from > max || through < min {
        return 0.0;
    }
    if min == max {
        return 1.0;
    }
    let total = (max - min) as f64;
    let leading = (from - min).max(0) as f64;
    let trailing = (max - through).max(0) as f64;
    (total - (leading + trailing)) / total
}

/// `f(acc, labels, chunks)` for every stream of `tenant` that `matchers`
/// select (all streams without matchers) with chunks overlapping
/// `[from, through)`, one accumulator per reader, readers in parallel.
fn for_each_stream<T: Send>(
    readers: &[&dyn StreamReader],
    tenant: &str,
    matchers: &[Matcher],
    from: i64,
    through: i64,
    init: impl Fn() -> T + Sync,
    f: impl Fn(&mut T, &Labels, &[ChunkStats]) + Sync,
) -> Result<Vec<T>, QueryError> {
    if from >= through {
        return Ok(Vec::new());
    }
    let required = required_pairs(matchers);
    let parts = shards::map_readers(
        readers,
        shards::worker_threads(),
        || (),
        |_, reader| -> Result<T, QueryError> {
            let mut acc = init();
            // `streams` takes an inclusive end.
            let streams =
                reader.streams_with(tenant, from, through - 1, &required, &mut |l: &Labels| selects(matchers, l))?;
            for s in streams {
                let chunks = reader.chunk_stats(tenant, s.id, from, through)?;
                if !chunks.is_empty() {
                    f(&mut acc, &s.labels, &chunks);
                }
            }
            Ok(acc)
        },
    )?;
    parts.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use balsa_model::{Entry, MemChunks, MemStreams};

    use super::*;

    const S: i64 = NS_PER_S;
    const MS: i64 = NS_PER_MS;
    /// When the entries were pushed to the real Loki 3.7.6 that the volume
    /// tests compare with (1796488791 s), and when it was asked (an hour
    /// back from then: its default range).
    const T0: i64 = 1_796_488_791 * S;
    const NOW: i64 = 1_796_489_395 * S + 55 * MS;

    /// Builds a reader of fixed chunk statistics per stream, of tenant `t`.
    trait With {
        fn with(self, labels: &[(&str, &str)], chunks: &[(i64, i64, u64, u64)]) -> Self;
    }

    impl With for MemChunks {
        fn with(mut self, labels: &[(&str, &str)], chunks: &[(i64, i64, u64, u64)]) -> Self {
            let chunks =
                chunks.iter().map(|&(min_ts, max_ts, entries, bytes)| ChunkStats { min_ts, max_ts, entries, bytes });
            self.push("t", Labels::from_pairs(labels.iter().copied()), chunks);
            self
        }
    }

    fn sel(q: &str) -> Vec<Matcher> {
        parse_selector(q, true).unwrap()
    }

    #[test]
    fn factor_of_time_matches_lokis_table() {
        // The cases of `TestGetFactorOfTime` in Loki 3.7.6's pkg/util/time_test.go.
        let cases = [
            ((10, 20, 10, 20), 1.0), // equal
            ((10, 20, 5, 15), 0.5),  // 50% overlap on left
            ((10, 20, 15, 25), 0.5), // 50% overlap on right
            ((15, 16, 15, 25), 0.1), // 10% overlap on right
            ((10, 20, 25, 35), 0.0), // no overlap
            ((10, 20, 20, 35), 0.0), // no overlap, through=extentMin
            ((1685655637000000000, 1685656237000000000, 1685656107442496000, 1685656107442496000), 1.0), // would be NaN
        ];
        for ((from, through, min, max), want) in cases {
            let got = factor_of_time(from, through, min, max);
            assert!((got - want).abs() < 1e-9, "{from} {through} {min} {max}: {got} != {want}");
        }
    }

    #[test]
    fn stats_count_overlapping_chunks_prorated_by_time() {
        // Two chunks of 10 s holding 100 entries and 1000 bytes each.
        let r = MemChunks::new()
            .with(&[("app", "a")], &[(0, 10 * S, 100, 1000), (20 * S, 30 * S, 100, 1000)])
            .with(&[("app", "b")], &[(5 * S, 5 * S, 1, 7)])
            .with(&[("app", "c")], &[(40 * S, 50 * S, 9, 99)]);
        let readers: [&dyn StreamReader; 1] = [&r];
        let stats = |q: &str, from: i64, to: i64| index_stats(&readers, "t", &sel(q), from, to).unwrap();
        // Everything: whole chunks.
        assert_eq!(stats(r#"{app=~".+"}"#, 0, 60 * S), IndexStats { streams: 3, chunks: 4, bytes: 2106, entries: 210 });
        // [5 s, 25 s): half of each of a's chunks (factor 0.5 both), b's one
        // instant whole (factor 1), c not at all.
        assert_eq!(
            stats(r#"{app=~".+"}"#, 5 * S, 25 * S),
            IndexStats { streams: 2, chunks: 3, bytes: 1007, entries: 101 }
        );
        // The end is exclusive (TSDB `overlap`: through > chunk min).
        assert_eq!(stats(r#"{app="c"}"#, 0, 40 * S), IndexStats::default());
        // A chunk that ends at the start overlaps, for factor 0 of its 10 s:
        // it counts, with no entries or bytes.
        assert_eq!(stats(r#"{app="a"}"#, 10 * S, 15 * S), IndexStats { streams: 1, chunks: 1, bytes: 0, entries: 0 });
        // Half of c's chunk: 4.5 entries and 49.5 bytes truncate.
        assert_eq!(stats(r#"{app="c"}"#, 0, 45 * S), IndexStats { streams: 1, chunks: 1, bytes: 49, entries: 4 });
        // The end is rounded up to milliseconds (`util.RoundToMilliseconds`):
        // 1 ns past 5 s reaches b's entry at 5 s.
        assert_eq!(stats(r#"{app="b"}"#, 0, 5 * S), IndexStats::default());
        assert_eq!(stats(r#"{app="b"}"#, 0, 5 * S + 1), IndexStats { streams: 1, chunks: 1, bytes: 7, entries: 1 });
    }

    #[test]
    fn selectors_follow_parse_matchers() {
        assert_eq!(
            parse_selector("{}", false).unwrap_err().message(),
            "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"
        );
        assert!(parse_selector("{}", true).unwrap().is_empty(), "volume's match-anything");
        assert!(parse_selector("{ }", true).is_err(), "only the exact `{{}}` is match-anything");
        for q in [r#"{app="x"} |= "a""#, r#"sum(rate({app="x"}[1m]))"#] {
            assert_eq!(parse_selector(q, true).unwrap_err(), QueryError::BadQuery(ONLY_MATCHERS.into()), "{q}");
        }
        assert_eq!(parse_selector("", false).unwrap_err().message(), "parse error : syntax error: unexpected $end");
    }

    #[test]
    fn buckets_follow_for_interval() {
        // Instant: one bucket at the end rounded up to ms, reading whole seconds.
        assert_eq!(
            buckets(100 * S + 5 * MS + 1, 200 * S + 7 * MS + 1, 0),
            vec![Bucket { ts: 200 * S + 8 * MS, from: 100 * S, through: 200 * S }]
        );
        // A 300 s step over the times of the real Loki 3.7.6 run recorded
        // in `volume_range_prorates_chunks_over_buckets_like_loki`: its
        // points were at 1796488799.999 and 1796489099.999.
        let got = buckets(T0, NOW, 300 * S);
        assert_eq!(
            got,
            vec![
                Bucket { ts: T0 + 8 * S + 999 * MS, from: T0, through: T0 + 8 * S },
                Bucket { ts: T0 + 308 * S + 999 * MS, from: T0 + 9 * S, through: T0 + 308 * S },
                Bucket { ts: NOW, from: T0 + 309 * S, through: T0 + 604 * S },
            ]
        );
        assert!(buckets(10 * S, 10 * S, S).is_empty(), "an empty range has no bucket");
    }

    fn query<'a>(matchers: &'a [Matcher], targets: &'a [String], by: AggregateBy, limit: usize) -> VolumeQuery<'a> {
        VolumeQuery {
            tenant: "t",
            matchers,
            target_labels: targets,
            aggregate_by: by,
            limit,
            max_series: DEFAULT_VOLUME_MAX_SERIES,
        }
    }

    fn instant(v: &Volumes) -> Vec<(String, u64)> {
        assert!(!v.matrix);
        v.series.iter().map(|s| (s.labels.to_string(), s.points[0].1)).collect()
    }

    /// The data pushed to the real Loki 3.7.6 for the comparison recorded in
    /// `volumes_aggregate_like_loki`: (labels, one chunk per stream).
    fn loki_like() -> MemChunks {
        let t = T0;
        MemChunks::new()
            .with(&[("app", "x"), ("env", "prod")], &[(t, t + 120 * S, 3, 77)])
            .with(&[("app", "x"), ("env", "dev")], &[(t, t + 300 * S, 2, 73)])
            .with(&[("app", "y"), ("env", "prod"), ("pod", "p1")], &[(t + 10 * S, t + 10 * S, 1, 31)])
    }

    #[test]
    fn volumes_aggregate_like_loki() {
        // Expected values are what Loki 3.7.6 answered for the same chunks
        // (its ingester's chunk sizes: 77, 73 and 31 bytes), asked at NOW.
        let r = loki_like();
        let readers: [&dyn StreamReader; 1] = [&r];
        let (start, end) = (NOW - 3600 * S, NOW);
        let run = |q: &str, targets: &[&str], by, limit| {
            let m = sel(q);
            let t: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
            volume(&readers, &query(&m, &t, by, limit), start, end, 0).unwrap()
        };
        // Series named by the selector's labels.
        assert_eq!(instant(&run(r#"{app="x"}"#, &[], AggregateBy::Series, 100)), vec![(r#"{app="x"}"#.into(), 150)]);
        // `{}`: every label; largest first.
        assert_eq!(
            instant(&run("{}", &[], AggregateBy::Series, 100)),
            vec![
                (r#"{app="x", env="prod"}"#.into(), 77),
                (r#"{app="x", env="dev"}"#.into(), 73),
                (r#"{app="y", env="prod", pod="p1"}"#.into(), 31),
            ]
        );
        // By label name; equal volumes by name.
        assert_eq!(
            instant(&run(r#"{app=~".+"}"#, &[], AggregateBy::Labels, 100)),
            vec![(r#"{app=""}"#.into(), 181), (r#"{env=""}"#.into(), 181), (r#"{pod=""}"#.into(), 31)]
        );
        // Target labels: streams must carry them all.
        assert!(run(r#"{app="x"}"#, &["env", "pod"], AggregateBy::Series, 100).series.is_empty());
        assert_eq!(
            instant(&run("{}", &["env", "pod"], AggregateBy::Series, 100)),
            vec![(r#"{env="prod", pod="p1"}"#.into(), 31)]
        );
        assert_eq!(instant(&run("{}", &["env"], AggregateBy::Labels, 100)), vec![(r#"{env=""}"#.into(), 181)]);
        // The limit keeps the largest.
        assert_eq!(instant(&run("{}", &[], AggregateBy::Series, 1)), vec![(r#"{app="x", env="prod"}"#.into(), 77)]);
        // The point is at the end, rounded up to ms.
        assert_eq!(run(r#"{app="x"}"#, &[], AggregateBy::Series, 100).series[0].points[0].0, end);
    }

    #[test]
    fn volume_range_prorates_chunks_over_buckets_like_loki() {
        // Loki 3.7.6, `volume_range` of {app=~".+"} with step=300 over the
        // last hour: app=y 31 at ..099.999; app=x 6 at ..799.999 and 141 at
        // ..099.999 (x's chunks: 77 bytes over [T0, T0+120 s] and 73 over
        // [T0, T0+300 s]; the first bucket ends at ..799 s, 8 s in, so it
        // gets 8/120 and 8/300 of them: 5 + 1; the second 111/120 and 291/300:
        // 71 + 70).
        let r = loki_like();
        let readers: [&dyn StreamReader; 1] = [&r];
        let m = sel(r#"{app=~".+"}"#);
        let v = volume(&readers, &query(&m, &[], AggregateBy::Series, 100), NOW - 3600 * S, NOW, 300 * S).unwrap();
        assert!(v.matrix, "{v:?}");
        let got: Vec<(String, Vec<(i64, u64)>)> =
            v.series.iter().map(|s| (s.labels.to_string(), s.points.clone())).collect();
        assert_eq!(
            got,
            vec![
                (r#"{app="y"}"#.into(), vec![(1_796_489_099 * S + 999 * MS, 31)]),
                (r#"{app="x"}"#.into(), vec![(1_796_488_799 * S + 999 * MS, 6), (1_796_489_099 * S + 999 * MS, 141)]),
            ],
            "sorted by the first point's value"
        );
    }

    #[test]
    fn volumes_merge_shards_and_enforce_the_series_limit() {
        let a = MemChunks::new().with(&[("app", "x"), ("pod", "1")], &[(0, 10 * S, 10, 100)]);
        let b = MemChunks::new()
            .with(&[("app", "x"), ("pod", "2")], &[(0, 10 * S, 10, 50)])
            .with(&[("app", "z")], &[(0, 10 * S, 10, 60)]);
        let readers: [&dyn StreamReader; 2] = [&a, &b];
        let m = sel(r#"{app=~".+"}"#);
        let v = volume(&readers, &query(&m, &[], AggregateBy::Series, 100), 0, 20 * S, 0).unwrap();
        assert_eq!(instant(&v), vec![(r#"{app="x"}"#.into(), 150), (r#"{app="z"}"#.into(), 60)]);
        let m = sel("{}");
        let q = VolumeQuery { max_series: 2, ..query(&m, &[], AggregateBy::Series, 100) };
        assert_eq!(
            volume(&readers, &q, 0, 20 * S, 0).unwrap_err(),
            QueryError::Execution("the query hit the max number of series limit (limit: 2 series)".into())
        );
    }

    #[test]
    fn readers_without_metadata_count_entries_in_range() {
        // MemStreams has no chunks: the default `chunk_stats` reports the
        // entries in range as one chunk.
        let mut m = MemStreams::new();
        let l = Labels::from_pairs([("app", "a")]);
        m.push("t", l, (0..10).map(|i| Entry::new(i * S, "0123456789")));
        let readers: [&dyn StreamReader; 1] = [&m];
        assert_eq!(
            index_stats(&readers, "t", &sel(r#"{app="a"}"#), 2 * S, 5 * S).unwrap(),
            IndexStats { streams: 1, chunks: 1, bytes: 30, entries: 3 }
        );
        assert_eq!(index_stats(&readers, "other", &sel(r#"{app="a"}"#), 0, 20 * S).unwrap(), IndexStats::default());
    }
}
