//! Metric queries: range aggregations over logs, then vector aggregations,
//! binary operations and `label_replace` over their results.
//!
//! Evaluation works on whole columns: every sub-expression evaluates to its
//! value at *every* step of the query at once ([`Value`]), instead of
//! stepping an iterator tree as Loki does. The semantics are Loki's
//! (`pkg/logql/engine.go`, `evaluator.go`, `range_vector.go`):
//!
//! - a range `[r] offset o` at step `t` covers entries with
//!   `t - o - r < ts <= t - o`;
//! - range queries evaluate at `start, start + step, ... <= end`, instant
//!   queries once at `time`; output timestamps are truncated to milliseconds;
//! - a series that still carries `__error__` fails the query with Loki's
//!   "pipeline error" message;
//! - `sum` over `count_over_time`/`rate`/`bytes_*`/`sum_over_time` reduces
//!   labels to the `sum` grouping while reading, as Loki injects it.
//!
//! Range aggregations run per shard reader, next to the data ([`range`]):
//! each reader yields partial series (counts in step buckets, or samples for
//! unwrapped aggregations), which merge by series labels. Lines are never
//! collected on the querying node.

mod ops;
mod range;

use std::collections::BTreeMap;
use std::time::Instant;

use balsa_logql::{SampleExpr, VectorOp};
use balsa_model::{Labels, StreamReader};

use crate::error::QueryError;
use crate::logs::QueryStats;

/// One series value at the evaluation time.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

/// The result of an instant query.
#[derive(Clone, Debug, PartialEq)]
pub enum InstantValue {
    Scalar(f64),
    Vector(Vec<Sample>),
}

/// One series of a range query: `(timestamp ns, value)` points in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// Most points per series a range query may produce (as Loki/Prometheus).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Limits a metric query runs under.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvalLimits {
    /// Most series in the result (`max_query_series`); 0 = unlimited.
    pub max_series: usize,
    /// When the query must give up (`query_timeout`).
    pub deadline: Option<Instant>,
}

/// A metric query and where it runs.
#[derive(Clone, Copy, Debug)]
pub struct MetricQuery<'a> {
    pub tenant: &'a str,
    pub expr: &'a SampleExpr,
    pub limits: EvalLimits,
}

/// The steps a query evaluates at: `start + i * step` for `i < count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Steps {
    pub start: i64,
    pub step: i64,
    pub count: usize,
}

impl Steps {
    pub fn at(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }

    pub fn last(&self) -> i64 {
        self.at(self.count.saturating_sub(1))
    }
}

/// A series evaluated at every step; `None` where it has no value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StepSeries {
    pub labels: Labels,
    pub points: Vec<Option<f64>>,
}

/// The value of a sub-expression at every step.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Scalar(f64),
    Vector(Vec<StepSeries>),
}

/// What evaluation needs besides the expression.
pub(crate) struct Ctx<'a> {
    pub readers: &'a [&'a dyn StreamReader],
    pub tenant: &'a str,
    pub steps: Steps,
    pub limits: EvalLimits,
    pub stats: QueryStats,
    /// Instant queries reject range-only constructs (and vice versa).
    pub instant: bool,
}

impl Ctx<'_> {
    pub fn check_deadline(&self) -> Result<(), QueryError> {
        match self.limits.deadline {
            Some(d) if Instant::now() >= d => Err(QueryError::Timeout),
            _ => Ok(()),
        }
    }
}

/// Evaluates a metric query at `ts_ns` (an instant query).
pub fn eval_instant(
    readers: &[&dyn StreamReader],
    q: &MetricQuery<'_>,
    ts_ns: i64,
) -> Result<(InstantValue, QueryStats), QueryError> {
    let steps = Steps { start: ts_ns, step: 1, count: 1 };
    let mut ctx =
        Ctx { readers, tenant: q.tenant, steps, limits: q.limits, stats: QueryStats::default(), instant: true };
    let value = eval(&mut ctx, q.expr)?;
    let out = match value {
        Value::Scalar(v) => InstantValue::Scalar(v),
        Value::Vector(series) => {
            let mut samples: Vec<Sample> = series
                .into_iter()
                .filter_map(|s| s.points[0].map(|value| Sample { labels: s.labels, value }))
                .collect();
            check_series_limit(q.limits, samples.len())?;
            if !sorts_by_value(q.expr) {
                samples.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            InstantValue::Vector(samples)
        }
    };
    Ok((out, ctx.stats))
}

/// Evaluates a metric query at every step from `start_ns` to `end_ns`
/// (inclusive). Scalars become one series without labels. Series are
/// sorted by labels, as Loki sorts its matrix.
pub fn eval_range(
    readers: &[&dyn StreamReader],
    q: &MetricQuery<'_>,
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
) -> Result<(Vec<Series>, QueryStats), QueryError> {
    if step_ns <= 0 {
        return Err(QueryError::BadQuery(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end_ns < start_ns {
        return Err(QueryError::BadQuery("end timestamp must not be before or equal to start time".into()));
    }
    // Loki checks the resolution on the requested range, before its frontend
    // aligns start and end to the step (which adds at most two steps).
    if (end_ns - start_ns) / step_ns > MAX_POINTS_PER_SERIES + 2 {
        return Err(QueryError::BadQuery(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step \
             parameter"
                .into(),
        ));
    }
    let count = ((end_ns - start_ns) / step_ns) as usize + 1;
    let steps = Steps { start: start_ns, step: step_ns, count };
    let mut ctx =
        Ctx { readers, tenant: q.tenant, steps, limits: q.limits, stats: QueryStats::default(), instant: false };
    let value = eval(&mut ctx, q.expr)?;
    let series = match value {
        Value::Scalar(v) => vec![StepSeries { labels: Labels::default(), points: vec![Some(v); count] }],
        Value::Vector(series) => series,
    };
    // Series with equal labels (e.g. from `or`) merge, as Loki joins steps by label hash.
    let mut merged: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for s in series {
        let points: Vec<(i64, f64)> =
            s.points.iter().enumerate().filter_map(|(i, v)| v.map(|v| (millis(steps.at(i)), v))).collect();
        if points.is_empty() {
            continue;
        }
        let slot = merged.entry(s.labels).or_default();
        slot.extend(points);
    }
    check_series_limit(q.limits, merged.len())?;
    let out = merged
        .into_iter()
        .map(|(labels, mut points)| {
            points.sort_by_key(|p| p.0);
            points.dedup_by_key(|p| p.0);
            Series { labels, points }
        })
        .collect();
    Ok((out, ctx.stats))
}

/// Loki reports metric timestamps in milliseconds.
fn millis(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(1_000_000) * 1_000_000
}

fn check_series_limit(limits: EvalLimits, n: usize) -> Result<(), QueryError> {
    if limits.max_series > 0 && n > limits.max_series {
        return Err(QueryError::Limit(format!("maximum of series ({}) reached for a single query", limits.max_series)));
    }
    Ok(())
}

/// Whether the result keeps its evaluation order (`sort`, `sort_desc`).
fn sorts_by_value(expr: &SampleExpr) -> bool {
    match expr {
        SampleExpr::VectorAggregation(v) => {
            matches!(v.op, VectorOp::Sort | VectorOp::SortDesc) || sorts_by_value(&v.inner)
        }
        SampleExpr::BinOp(b) => sorts_by_value(&b.lhs) || sorts_by_value(&b.rhs),
        SampleExpr::LabelReplace(l) => sorts_by_value(&l.inner),
        SampleExpr::RangeAggregation(_) | SampleExpr::Literal(_) | SampleExpr::Vector(_) => false,
    }
}

pub(crate) fn eval(ctx: &mut Ctx<'_>, expr: &SampleExpr) -> Result<Value, QueryError> {
    ctx.check_deadline()?;
    match expr {
        SampleExpr::Literal(v) => Ok(Value::Scalar(*v)),
        SampleExpr::Vector(v) => {
            Ok(Value::Vector(vec![StepSeries { labels: Labels::default(), points: vec![Some(*v); ctx.steps.count] }]))
        }
        SampleExpr::RangeAggregation(r) => range::eval_range_aggregation(ctx, r, None).map(Value::Vector),
        SampleExpr::VectorAggregation(a) => ops::eval_vector_aggregation(ctx, a),
        SampleExpr::BinOp(b) => ops::eval_binop(ctx, b),
        SampleExpr::LabelReplace(l) => ops::eval_label_replace(ctx, l),
    }
}
