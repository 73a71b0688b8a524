//! Range aggregations over logs (`count_over_time`, `rate`, `*_over_time`
//! of unwrapped values, ...), run next to the data: every shard reader
//! produces a partial result, computed on its own thread, and the partials
//! merge by series labels.
//!
//! Two kinds of partial series:
//! - **counts** for aggregations of lines (`count_over_time`, `rate`,
//!   `bytes_*`, `absent_over_time`): each line adds to the contiguous run of
//!   steps whose window covers it, kept as difference arrays, so a line
//!   costs O(1) and memory is per series and step, never per line;
//! - **samples** `(ts, value)` for unwrapped aggregations, whose functions
//!   (quantiles, first/last, counter rates) need the values of the window.

use std::collections::HashMap;

use balsa_logql::{Grouping, RangeAggregation, RangeOp, UnwrapConv};
use balsa_model::{Direction, Entry, Labels, StreamReader};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Ctx, StepSeries, Steps};
use crate::convert;
use crate::error::QueryError;
use crate::logs::{QueryStats, required_pairs, selects};
use crate::pipeline::{LabelPredicate, LabelSet, PRESERVE_ERROR_LABEL, Pipeline};
use crate::shards;

const ERROR_LABEL: &str = "__error__";
const SAMPLE_EXTRACTION_ERR: &str = "SampleExtractionErr";

/// How a partial series accumulates.
#[derive(Clone, Debug)]
enum Acc {
    /// Difference arrays over steps (`len = steps + 1`): lines and bytes.
    Counts { lines: Vec<i64>, bytes: Vec<i64> },
    /// Samples in arrival order (sorted before evaluation).
    Samples(Vec<(i64, f64)>),
}

impl Acc {
    fn merge(&mut self, other: Acc) {
        match (self, other) {
            (Acc::Counts { lines, bytes }, Acc::Counts { lines: l2, bytes: b2 }) => {
                for (a, b) in lines.iter_mut().zip(l2) {
                    *a += b;
                }
                for (a, b) in bytes.iter_mut().zip(b2) {
                    *a += b;
                }
            }
            (Acc::Samples(a), Acc::Samples(b)) => a.extend(b),
            _ => unreachable!("one aggregation has one accumulator kind"),
        }
    }
}

/// The series one shard reader produced.
#[derive(Default)]
struct Partial {
    index: HashMap<Labels, usize>,
    series: Vec<(Labels, Acc)>,
    stats: QueryStats,
}

impl Partial {
    fn merge(&mut self, other: Partial) {
        self.stats.add(&other.stats);
        for (labels, acc) in other.series {
            match self.index.get(&labels) {
                Some(&i) => self.series[i].1.merge(acc),
                None => {
                    self.index.insert(labels.clone(), self.series.len());
                    self.series.push((labels, acc));
                }
            }
        }
    }
}

/// Which labels a series keeps.
#[derive(Clone, Debug)]
enum Reduce {
    All,
    Keep(Vec<String>),
    Drop(Vec<String>),
}

impl Reduce {
    /// The labels of the series an entry with `labels` belongs to. A series
    /// with an error keeps every label (Loki's `GroupedLabels`), so the
    /// error and its context reach the "pipeline error" message.
    fn series_labels(&self, labels: &LabelSet) -> Labels {
        if labels.has_error() {
            return labels.to_labels();
        }
        match self {
            Reduce::All => labels.to_labels(),
            Reduce::Keep(names) => {
                Labels::from_pairs(names.iter().filter_map(|n| labels.get(n).map(|v| (n.as_str(), v))))
            }
            Reduce::Drop(names) => {
                let mut all = labels.to_labels();
                for n in names {
                    all.remove(n);
                }
                all
            }
        }
    }
}

/// What the aggregation needs from each line.
struct Plan<'a> {
    ra: &'a RangeAggregation,
    steps: Steps,
    /// Whether the accumulator counts lines (otherwise it keeps samples).
    counts: bool,
    reduce: Reduce,
    range_ns: i64,
    offset_ns: i64,
}

impl Plan<'_> {
    /// The steps `[lo, hi]` whose window covers `ts`, if any:
    /// `t - offset - range < ts <= t - offset`.
    fn step_span(&self, ts: i64) -> Option<(usize, usize)> {
        let s = &self.steps;
        let from = ts as i128 + self.offset_ns as i128 - s.start as i128;
        let to = from + self.range_ns as i128;
        let step = s.step as i128;
        let lo = div_ceil(from, step).max(0);
        let hi = (div_ceil(to, step) - 1).min(s.count as i128 - 1);
        (lo <= hi).then_some((lo as usize, hi as usize))
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

fn is_count_op(op: RangeOp) -> bool {
    matches!(
        op,
        RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::AbsentOverTime
    )
}

/// Evaluates one range aggregation at every step. `inject` is the grouping
/// of an enclosing `sum`, applied while reading (Loki's pushdown).
pub(crate) fn eval_range_aggregation(
    ctx: &mut Ctx<'_>,
    ra: &RangeAggregation,
    inject: Option<&Grouping>,
) -> Result<Vec<StepSeries>, QueryError> {
    let range = &ra.range;
    let unwrap = range.unwrap.as_ref();
    let counts = unwrap.is_none() && is_count_op(ra.op);
    if unwrap.is_none() && !is_count_op(ra.op) {
        return Err(QueryError::BadQuery(format!("invalid aggregation {} without unwrap", ra.op.as_str())));
    }
    if unwrap.is_some()
        && !counts
        && matches!(
            ra.op,
            RangeOp::CountOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::AbsentOverTime
        )
    {
        return Err(QueryError::BadQuery(format!("invalid aggregation {} with unwrap", ra.op.as_str())));
    }
    let grouping = ra.grouping.as_ref().or(inject);
    let reduce = match (unwrap, grouping) {
        (Some(u), None) => Reduce::Drop(vec![u.label.clone()]),
        (Some(u), Some(g)) if g.without => {
            let mut names = g.labels.clone();
            names.push(u.label.clone());
            Reduce::Drop(names)
        }
        (_, Some(g)) if g.without => Reduce::Drop(g.labels.clone()),
        (_, Some(g)) => {
            let mut names = g.labels.clone();
            names.sort();
            names.dedup();
            Reduce::Keep(names)
        }
        (None, None) => Reduce::All,
    };
    let plan = Plan { ra, steps: ctx.steps, counts, reduce, range_ns: range.range_ns, offset_ns: range.offset_ns };

    // Entries any step can see: (first - offset - range, last - offset].
    let lo = (ctx.steps.start as i128 - range.offset_ns as i128 - range.range_ns as i128 + 1)
        .clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    let hi = (ctx.steps.last() as i128 - range.offset_ns as i128 + 1).clamp(i64::MIN as i128, i64::MAX as i128) as i64;

    // Validate the pipeline once up front, so errors surface before reading.
    Pipeline::compile(&range.selector.stages)?;
    for f in unwrap.map(|u| u.post_filters.as_slice()).unwrap_or_default() {
        LabelPredicate::compile(f)?;
    }

    let (tenant, deadline) = (ctx.tenant, ctx.limits.deadline);
    let partials = shards::map_readers(
        ctx.readers,
        shards::worker_threads(),
        || (),
        |_, reader| read_shard(reader, tenant, &plan, lo, hi, deadline),
    )?;
    let mut total = Partial::default();
    for p in partials {
        total.merge(p?);
    }
    ctx.stats.add(&total.stats);
    ctx.check_deadline()?;

    let mut out: Vec<StepSeries> = Vec::with_capacity(total.series.len());
    for (labels, acc) in total.series {
        let points = finalize(&plan, acc);
        if points.iter().any(Option::is_some) {
            out.push(StepSeries { labels, points });
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    // An error is a result, not a failure, when the query asked for it (`__preserve_error__`).
    if let Some(bad) = out.iter().find(|s| {
        s.labels.get(ERROR_LABEL).is_some_and(|v| !v.is_empty()) && s.labels.get(PRESERVE_ERROR_LABEL) != Some("true")
    }) {
        return Err(pipeline_error(&bad.labels));
    }
    if ra.op == RangeOp::AbsentOverTime {
        return Ok(absent(&plan, ra, &out));
    }
    Ok(out)
}

/// Loki's `PipelineError` text.
fn pipeline_error(labels: &Labels) -> QueryError {
    let kind = labels.get(ERROR_LABEL).unwrap_or_default();
    QueryError::BadQuery(format!(
        "pipeline error: '{kind}' for series: '{labels}'.\n\
         Use a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\n\
         To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n\
         The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
    ))
}

/// `absent_over_time`: one series (labels from the selector's `=` matchers)
/// with 1 at every step where nothing was selected.
fn absent(plan: &Plan<'_>, ra: &RangeAggregation, present: &[StepSeries]) -> Vec<StepSeries> {
    let mut labels = Labels::default();
    let mut dropped: Vec<&str> = Vec::new();
    for m in &ra.range.selector.matchers {
        if m.op == balsa_logql::MatchOp::Eq && labels.get(&m.name).is_none() {
            labels.set(&m.name, &m.value);
        } else {
            dropped.push(&m.name);
        }
    }
    for d in dropped {
        labels.remove(d);
    }
    let points: Vec<Option<f64>> = (0..plan.steps.count)
        .map(|i| if present.iter().any(|s| s.points[i].is_some()) { None } else { Some(1.0) })
        .collect();
    if points.iter().all(Option::is_none) {
        return Vec::new();
    }
    vec![StepSeries { labels, points }]
}

/// Reads one shard replica: selects streams, runs the pipeline on every
/// entry in range, and accumulates per series.
fn read_shard(
    reader: &dyn StreamReader,
    tenant: &str,
    plan: &Plan<'_>,
    lo: i64,
    hi: i64,
    deadline: Option<std::time::Instant>,
) -> Result<Partial, QueryError> {
    let range = &plan.ra.range;
    let selector = &range.selector;
    let pipeline = parser_hints(plan, Pipeline::compile(&selector.stages)?)?;
    let hint = pipeline.line_hint();
    let unwrap = range.unwrap.as_ref();
    let post_filters: Vec<LabelPredicate> = match unwrap {
        Some(u) => u.post_filters.iter().map(LabelPredicate::compile).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let conv = unwrap.map(|u| u.conv);
    let mut part = Partial::default();
    let required = required_pairs(&selector.matchers);
    let streams = reader
        .streams_with(tenant, lo, hi.saturating_sub(1), &required, &mut |l: &Labels| selects(&selector.matchers, l))?;
    let count = plan.steps.count;
    // Full label hash -> series index, per stream (hashes cover every label).
    let mut by_hash: HashMap<u64, usize> = HashMap::new();
    let mut seen: u64 = 0;
    let mut timed_out = false;
    for s in streams {
        if !selects(&selector.matchers, &s.labels) {
            continue;
        }
        part.stats.streams_matched += 1;
        let mut sp = pipeline.for_stream(&s.labels);
        let Partial { index, series, stats } = &mut part;
        let mut visit = |e: &Entry| -> bool {
            if e.ts_ns < lo || e.ts_ns >= hi {
                return true;
            }
            seen += 1;
            if seen.is_multiple_of(shards::DEADLINE_EVERY) && shards::past(deadline) {
                timed_out = true;
                return false;
            }
            stats.lines_processed += 1;
            stats.bytes_processed += e.size() as u64;
            let Some((lo_step, hi_step)) = plan.step_span(e.ts_ns) else { return true };
            let Some(processed) = sp.process(e) else { return true };
            let labels: &mut LabelSet = processed.labels;
            let line_len = processed.line.len() as i64;
            let mut value = 1.0;
            if let Some(u) = unwrap {
                let raw = labels.get(&u.label).unwrap_or_default();
                if raw.is_empty() {
                    return true;
                }
                match convert_value(conv.flatten(), raw) {
                    Ok(v) => value = v,
                    Err(details) => labels.set_error(SAMPLE_EXTRACTION_ERR, &details),
                }
                for f in &post_filters {
                    if !f.test(labels) {
                        return true;
                    }
                }
            }
            stats.post_filter_lines += 1;
            // With a `by` grouping and no error, the series depends on the
            // grouping labels only: hash just those (tagged apart from full hashes).
            let grouped = match &plan.reduce {
                Reduce::Keep(names) if !labels.has_error() => Some(names),
                _ => None,
            };
            let hash = match grouped {
                Some(names) => {
                    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
                    for n in names {
                        let v = labels.get(n);
                        h = xxh3_64_with_seed(v.unwrap_or("").as_bytes(), h ^ u64::from(v.is_some()));
                    }
                    h.rotate_left(1) | 1
                }
                None => labels.hash() & !1,
            };
            let idx = match by_hash.get(&hash) {
                Some(&i) => i,
                None => {
                    let key = plan.reduce.series_labels(labels);
                    let i = *index.entry(key.clone()).or_insert_with(|| {
                        let acc = if plan.counts {
                            Acc::Counts {
                                lines: vec![0; count + 1],
                                bytes: if matches!(plan.ra.op, RangeOp::BytesOverTime | RangeOp::BytesRate) {
                                    vec![0; count + 1]
                                } else {
                                    Vec::new()
                                },
                            }
                        } else {
                            Acc::Samples(Vec::new())
                        };
                        series.push((key, acc));
                        series.len() - 1
                    });
                    by_hash.insert(hash, i);
                    i
                }
            };
            match &mut series[idx].1 {
                Acc::Counts { lines, bytes } => {
                    lines[lo_step] += 1;
                    lines[hi_step + 1] -= 1;
                    if !bytes.is_empty() {
                        bytes[lo_step] += line_len;
                        bytes[hi_step + 1] -= line_len;
                    }
                }
                Acc::Samples(v) => v.push((e.ts_ns, value)),
            }
            true
        };
        let skipped = reader.entries_hinted(tenant, s.id, lo, hi, Direction::Forward, &hint, &mut visit)?;
        stats.lines_processed += skipped.lines;
        stats.bytes_processed += skipped.bytes;
        // Skipped entries are not visited: look at the clock once per stream too.
        if timed_out || shards::past(deadline) {
            return Err(QueryError::Timeout);
        }
        by_hash.clear();
    }
    Ok(part)
}

/// Loki's parser hints for the range aggregation (`RangeAggregationExpr.extractor`):
/// the grouping in effect (its own or a pushed-down `sum`'s), `absent_over_time`
/// needing no labels, and the unwrap (see `pipeline::hints`).
fn parser_hints(plan: &Plan<'_>, pipeline: Pipeline) -> Result<Pipeline, QueryError> {
    let range = &plan.ra.range;
    let (groups, without, singleton): (&[String], bool, bool) = match &plan.reduce {
        Reduce::Keep(g) => (g, false, g.is_empty()),
        Reduce::Drop(_) => (&[], true, false),
        Reduce::All => (&[], false, false),
    };
    let no_labels = singleton || plan.ra.op == RangeOp::AbsentOverTime;
    pipeline.with_metric_hints(&range.selector.stages, groups, without, no_labels, range.unwrap.as_ref())
}

fn convert_value(conv: Option<UnwrapConv>, raw: &str) -> Result<f64, String> {
    match conv {
        None => convert::parse_float(raw),
        Some(UnwrapConv::Duration | UnwrapConv::DurationSeconds) => convert::parse_duration_seconds(raw),
        Some(UnwrapConv::Bytes) => convert::parse_bytes(raw),
    }
}

/// Go's `Duration.Seconds()`.
fn seconds(ns: i64) -> f64 {
    (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9
}

/// The value of one series at every step.
fn finalize(plan: &Plan<'_>, acc: Acc) -> Vec<Option<f64>> {
    let count = plan.steps.count;
    let secs = seconds(plan.range_ns);
    match acc {
        Acc::Counts { lines, bytes } => {
            let mut out = Vec::with_capacity(count);
            let (mut n, mut b) = (0i64, 0i64);
            for i in 0..count {
                n += lines[i];
                if !bytes.is_empty() {
                    b += bytes[i];
                }
                if n <= 0 {
                    out.push(None);
                    continue;
                }
                out.push(Some(match plan.ra.op {
                    RangeOp::CountOverTime | RangeOp::AbsentOverTime => n as f64,
                    RangeOp::Rate => n as f64 / secs,
                    RangeOp::BytesOverTime => b as f64,
                    RangeOp::BytesRate => b as f64 / secs,
                    _ => unreachable!("only line aggregations count"),
                }));
            }
            out
        }
        Acc::Samples(mut samples) => {
            samples.sort_by_key(|s| s.0);
            let mut out = Vec::with_capacity(count);
            let (mut from, mut to) = (0usize, 0usize);
            let mut window: Vec<(i64, f64)> = Vec::new();
            for i in 0..count {
                let end = plan.steps.at(i) as i128 - plan.offset_ns as i128;
                let start = end - plan.range_ns as i128;
                while to < samples.len() && (samples[to].0 as i128) <= end {
                    to += 1;
                }
                while from < to && (samples[from].0 as i128) <= start {
                    from += 1;
                }
                if from >= to {
                    out.push(None);
                    continue;
                }
                window.clear();
                window.extend_from_slice(&samples[from..to]);
                out.push(Some(over_time(plan.ra.op, plan.ra.param, &window, plan.range_ns)));
            }
            out
        }
    }
}

/// The `*_over_time` functions of Loki's `range_vector.go`, over a
/// non-empty window of samples in time order.
fn over_time(op: RangeOp, param: Option<f64>, w: &[(i64, f64)], range_ns: i64) -> f64 {
    let values = w.iter().map(|s| s.1);
    match op {
        RangeOp::Rate => values.sum::<f64>() / seconds(range_ns),
        RangeOp::SumOverTime | RangeOp::BytesOverTime => values.sum(),
        RangeOp::CountOverTime | RangeOp::AbsentOverTime => w.len() as f64,
        RangeOp::BytesRate => values.sum::<f64>() / seconds(range_ns),
        RangeOp::RateCounter => extrapolated_rate(w, range_ns),
        RangeOp::AvgOverTime => {
            let (mut mean, mut count) = (0f64, 0f64);
            for v in values {
                count += 1.0;
                if mean.is_infinite() {
                    if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                        continue;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        continue;
                    }
                }
                mean += v / count - mean / count;
            }
            mean
        }
        RangeOp::MaxOverTime => {
            let mut m = w[0].1;
            for v in values {
                if v > m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        RangeOp::MinOverTime => {
            let mut m = w[0].1;
            for v in values {
                if v < m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        RangeOp::StdvarOverTime | RangeOp::StddevOverTime => {
            let (mut aux, mut count, mut mean) = (0f64, 0f64, 0f64);
            for v in values {
                count += 1.0;
                let delta = v - mean;
                mean += delta / count;
                aux += delta * (v - mean);
            }
            if op == RangeOp::StdvarOverTime { aux / count } else { (aux / count).sqrt() }
        }
        RangeOp::QuantileOverTime => {
            let mut v: Vec<f64> = values.collect();
            quantile(param.unwrap_or(f64::NAN), &mut v)
        }
        RangeOp::FirstOverTime => w[0].1,
        RangeOp::LastOverTime => w[w.len() - 1].1,
    }
}

/// Prometheus' quantile with linear interpolation.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Loki's `extrapolatedRate(samples, range, isCounter=true, isRate=true)`,
/// unit quirks included: sample times are nanoseconds while the range
/// start is taken in milliseconds, exactly as Loki computes it.
fn extrapolated_rate(w: &[(i64, f64)], range_ns: i64) -> f64 {
    if w.len() < 2 {
        return 0.0;
    }
    let range_ms = range_ns / 1_000_000;
    let (first, last) = (w[0], w[w.len() - 1]);
    let range_start = first.0 - range_ms;
    let range_end = last.0;
    let mut result = last.1 - first.1;
    let mut last_value = 0.0;
    for s in w {
        if s.1 < last_value {
            result += last_value;
        }
        last_value = s.1;
    }
    let mut duration_to_start = (first.0 - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last.0) as f64 / 1000.0;
    let sampled_interval = (last.0 - first.0) as f64 / 1000.0;
    let average_between = sampled_interval / (w.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let duration_to_zero = sampled_interval * (first.1 / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold { duration_to_start } else { average_between / 2.0 };
    extrapolate_to += if duration_to_end < threshold { duration_to_end } else { average_between / 2.0 };
    result *= extrapolate_to / sampled_interval;
    result / seconds(range_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_steps(start: i64, step: i64, count: usize, range_ns: i64, offset_ns: i64) -> Option<(usize, usize)> {
        // Exercise the window arithmetic alone.
        let steps = Steps { start, step, count };
        let ra = balsa_logql::parse_sample_expr("count_over_time({a=\"b\"}[1s])").unwrap();
        let balsa_logql::SampleExpr::RangeAggregation(ra) = ra else { unreachable!() };
        let plan = Plan { ra: &ra, steps, counts: true, reduce: Reduce::All, range_ns, offset_ns };
        plan.step_span(100)
    }

    #[test]
    fn windows_are_left_open_right_closed() {
        // steps at 100, 110, 120, 130; range 20: ts=100 is in (80,100], (90,110], not (100,120].
        assert_eq!(plan_steps(100, 10, 4, 20, 0), Some((0, 1)));
        // ts=100 is in (80,100] but not in (100,120]: the window start is excluded.
        assert_eq!(plan_steps(100, 20, 2, 20, 0), Some((0, 0)));
        // Offset moves windows back: step t covers (t-o-r, t-o].
        assert_eq!(plan_steps(100, 10, 4, 20, 10), Some((1, 2)));
        // Outside every window.
        assert_eq!(plan_steps(200, 10, 4, 20, 0), None);
    }

    #[test]
    fn quantiles() {
        assert_eq!(quantile(0.5, &mut [1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(0.99, &mut [5.0]), 5.0);
        assert_eq!(quantile(1.0, &mut [3.0, 1.0, 2.0]), 3.0);
        assert_eq!(quantile(-1.0, &mut [1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut [1.0]), f64::INFINITY);
    }

    #[test]
    fn counter_rate_follows_loki() {
        let s = 1_000_000_000i64;
        // 0 -> 10 over 10s in a [1m] range: extrapolates to the zero point,
        // so the increase stays 10.
        assert_eq!(extrapolated_rate(&[(0, 0.0), (10 * s, 10.0)], 60 * s), 10.0 / 60.0);
        // A reset (10 -> 2) adds the value before it; Loki's duration to the
        // range start is the range in ms / 1000, its sampled interval ns / 1000.
        let got = extrapolated_rate(&[(0, 5.0), (s, 10.0), (2 * s, 2.0)], 60 * s);
        assert_eq!(got, 7.0 * (2_000_060.0 / 2_000_000.0) / 60.0);
        assert_eq!(extrapolated_rate(&[(0, 1.0)], 60 * s), 0.0);
    }
}
