//! Vector aggregations, binary operations and `label_replace`, evaluated
//! step by step over [`Value`]s with the semantics of Loki's
//! `evaluator.go` (`VectorAggEvaluator`, `vectorBinop`, `MergeBinOp`,
//! `resultMetric`, `LabelReplaceEvaluator`).

use std::collections::{HashMap, HashSet};

use balsa_logql::{
    BinOp, BinOpExpr, BinOpModifier, Cardinality, Grouping, LabelReplace, RangeOp, SampleExpr, VectorAggregation,
    VectorOp,
};
use balsa_model::Labels;

use super::{Ctx, StepSeries, Value, eval, range};
use crate::error::QueryError;

/// Collects per-step outputs into series, keyed by labels in first-seen order.
struct Collector {
    count: usize,
    index: HashMap<Labels, usize>,
    series: Vec<StepSeries>,
}

impl Collector {
    fn new(count: usize) -> Self {
        Self { count, index: HashMap::new(), series: Vec::new() }
    }

    fn put(&mut self, step: usize, labels: Labels, value: f64) -> bool {
        let count = self.count;
        let i = *self.index.entry(labels.clone()).or_insert_with(|| {
            self.series.push(StepSeries { labels, points: vec![None; count] });
            self.series.len() - 1
        });
        let slot = &mut self.series[i].points[step];
        let fresh = slot.is_none();
        *slot = Some(value);
        fresh
    }

    fn finish(self) -> Vec<StepSeries> {
        self.series
    }
}

/// The samples of `series` at `step`: (series index, value).
fn at_step(series: &[StepSeries], step: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
    series.iter().enumerate().filter_map(move |(i, s)| s.points[step].map(|v| (i, v)))
}

// ---------------------------------------------------------------- aggregations

fn group_labels(labels: &Labels, g: &Grouping) -> Labels {
    if g.without {
        let mut l = labels.clone();
        for n in &g.labels {
            l.remove(n);
        }
        l
    } else {
        Labels::new(labels.iter().filter(|p| g.labels.contains(&p.name)).cloned().collect())
    }
}

/// Whether Loki pushes the grouping of `sum` into this range aggregation
/// (`canInjectVectorGrouping`).
fn injectable(a: &VectorAggregation) -> Option<&balsa_logql::RangeAggregation> {
    let SampleExpr::RangeAggregation(r) = a.inner.as_ref() else { return None };
    let ok = a.op == VectorOp::Sum
        && r.grouping.is_none()
        && matches!(
            r.op,
            RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::SumOverTime | RangeOp::Rate | RangeOp::CountOverTime
        );
    ok.then_some(r)
}

struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: usize,
    members: Vec<(usize, f64)>,
}

pub(crate) fn eval_vector_aggregation(ctx: &mut Ctx<'_>, a: &VectorAggregation) -> Result<Value, QueryError> {
    if a.op == VectorOp::ApproxTopk {
        if !ctx.instant {
            // Loki's text (`pkg/logql/count_min_sketch.go`) when approx_topk is enabled.
            return Err(QueryError::BadQuery("count min sketches are only supported on instant queries".into()));
        }
        // Loki estimates `topk(k, inner)` with a count-min sketch of the inner
        // series (`pkg/logql/shardmapper.go`, `mapApproxTopk`); Balsa computes
        // it exactly. (`approx_topk` takes no grouping: the parser refuses one.)
        let topk = VectorAggregation {
            op: VectorOp::Topk,
            param: a.param,
            grouping: a.grouping.clone(),
            inner: a.inner.clone(),
        };
        return eval_vector_aggregation(ctx, &topk);
    }
    let inner = match injectable(a) {
        Some(r) => range::eval_range_aggregation(ctx, r, Some(&a.grouping))?,
        None => match eval(ctx, &a.inner)? {
            Value::Vector(v) => v,
            Value::Scalar(_) => {
                return Err(QueryError::BadQuery(format!("{} requires a vector", a.op.as_str())));
            }
        },
    };
    let count = ctx.steps.count;
    let mut out = Collector::new(count);
    let k = a.param.unwrap_or(0);
    let group_keys: Vec<Labels> = inner.iter().map(|s| group_labels(&s.labels, &a.grouping)).collect();
    for step in 0..count {
        if matches!(a.op, VectorOp::Topk | VectorOp::Bottomk) && k < 1 {
            continue;
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut by_key: HashMap<&Labels, usize> = HashMap::new();
        for (i, v) in at_step(&inner, step) {
            let key = &group_keys[i];
            let gi = match by_key.get(key) {
                Some(&gi) => gi,
                None => {
                    by_key.insert(key, groups.len());
                    groups.push(Group {
                        labels: key.clone(),
                        value: if matches!(a.op, VectorOp::Stddev | VectorOp::Stdvar) { 0.0 } else { v },
                        mean: v,
                        count: 1,
                        members: vec![(i, v)],
                    });
                    continue;
                }
            };
            let g = &mut groups[gi];
            match a.op {
                VectorOp::Sum => g.value += v,
                VectorOp::Avg => {
                    g.count += 1;
                    g.mean += (v - g.mean) / g.count as f64;
                }
                VectorOp::Max => {
                    if g.value < v || g.value.is_nan() {
                        g.value = v;
                    }
                }
                VectorOp::Min => {
                    if g.value > v || g.value.is_nan() {
                        g.value = v;
                    }
                }
                VectorOp::Count => g.count += 1,
                VectorOp::Stddev | VectorOp::Stdvar => {
                    g.count += 1;
                    let delta = v - g.mean;
                    g.mean += delta / g.count as f64;
                    g.value += delta * (v - g.mean);
                }
                VectorOp::Topk | VectorOp::Bottomk | VectorOp::Sort | VectorOp::SortDesc => g.members.push((i, v)),
                VectorOp::ApproxTopk => unreachable!("rewritten above"),
            }
        }
        for g in groups {
            let value = match a.op {
                VectorOp::Avg => g.mean,
                VectorOp::Count => g.count as f64,
                VectorOp::Stddev => (g.value / g.count as f64).sqrt(),
                VectorOp::Stdvar => g.value / g.count as f64,
                VectorOp::Topk | VectorOp::Bottomk | VectorOp::Sort | VectorOp::SortDesc => {
                    let mut m = g.members;
                    let desc = matches!(a.op, VectorOp::Topk | VectorOp::SortDesc);
                    m.sort_by(|x, y| {
                        let by_value = if desc { value_cmp_desc(x.1, y.1) } else { value_cmp_desc(y.1, x.1) };
                        by_value.then_with(|| inner[x.0].labels.cmp(&inner[y.0].labels))
                    });
                    if matches!(a.op, VectorOp::Topk | VectorOp::Bottomk) {
                        m.truncate(k as usize);
                    }
                    for (i, v) in m {
                        out.put(step, inner[i].labels.clone(), v);
                    }
                    continue;
                }
                _ => g.value,
            };
            out.put(step, g.labels, value);
        }
    }
    Ok(Value::Vector(out.finish()))
}

/// Descending by value with NaN last (topk never prefers NaN).
fn value_cmp_desc(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

// ---------------------------------------------------------------- label_replace

pub(crate) fn eval_label_replace(ctx: &mut Ctx<'_>, l: &LabelReplace) -> Result<Value, QueryError> {
    let Value::Vector(series) = eval(ctx, &l.inner)? else {
        return Err(QueryError::BadQuery("label_replace requires a vector".into()));
    };
    let mut out = Collector::new(ctx.steps.count);
    for s in series {
        let src = s.labels.get(&l.src).unwrap_or("").to_string();
        let mut labels = s.labels;
        if let Some(caps) = l.compiled.captures(&src) {
            let mut v = String::new();
            caps.expand(&l.replacement, &mut v);
            labels.remove(&l.dst);
            if !v.is_empty() {
                labels.set(&l.dst, &v);
            }
        }
        for (step, p) in s.points.iter().enumerate() {
            if let Some(v) = p {
                out.put(step, labels.clone(), *v);
            }
        }
    }
    Ok(Value::Vector(out.finish()))
}

// ---------------------------------------------------------------- binary operations

pub(crate) fn eval_binop(ctx: &mut Ctx<'_>, b: &BinOpExpr) -> Result<Value, QueryError> {
    let lhs = eval(ctx, &b.lhs)?;
    let rhs = eval(ctx, &b.rhs)?;
    let op = b.op;
    let m = &b.modifier;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => match op.apply(l, r) {
            Some(v) => Ok(Value::Scalar(v)),
            None => Err(set_op_scalar(op)),
        },
        (Value::Vector(v), Value::Scalar(s)) => literal_binop(op, m.return_bool, v, s, false),
        (Value::Scalar(s), Value::Vector(v)) => literal_binop(op, m.return_bool, v, s, true),
        (Value::Vector(l), Value::Vector(r)) => {
            let count = ctx.steps.count;
            let lsig: Vec<Labels> = l.iter().map(|s| signature(&s.labels, m)).collect();
            let rsig: Vec<Labels> = r.iter().map(|s| signature(&s.labels, m)).collect();
            let mut out = Collector::new(count);
            for step in 0..count {
                let left = Side { series: &l, sigs: &lsig, at: at_step(&l, step).collect() };
                let right = Side { series: &r, sigs: &rsig, at: at_step(&r, step).collect() };
                match op {
                    BinOp::And | BinOp::Or | BinOp::Unless => set_op(op, &left, &right, step, &mut out),
                    _ => vector_binop(op, m, &left, &right, step, &mut out)?,
                }
            }
            Ok(Value::Vector(out.finish()))
        }
    }
}

fn set_op_scalar(op: BinOp) -> QueryError {
    QueryError::BadQuery(format!("set operator \"{}\" not allowed in binary scalar expression", op.as_str()))
}

/// Loki's `LiteralStepEvaluator` + `MergeBinOp`: the series keeps its
/// labels; a comparison without `bool` keeps the vector's own value.
fn literal_binop(
    op: BinOp,
    return_bool: bool,
    series: Vec<StepSeries>,
    lit: f64,
    lit_on_left: bool,
) -> Result<Value, QueryError> {
    if op.is_set_op() {
        return Err(set_op_scalar(op));
    }
    let out = series
        .into_iter()
        .map(|s| {
            let points = s
                .points
                .iter()
                .map(|p| {
                    let v = (*p)?;
                    let (l, r) = if lit_on_left { (lit, v) } else { (v, lit) };
                    let res = op.apply(l, r)?;
                    if op.is_comparison() && !return_bool {
                        return (res == 1.0).then_some(v);
                    }
                    Some(res)
                })
                .collect();
            StepSeries { labels: s.labels, points }
        })
        .collect();
    Ok(Value::Vector(out))
}

/// The labels two sides match on: `on (...)` keeps the listed labels,
/// `ignoring (...)` (or nothing) drops them.
fn signature(labels: &Labels, m: &BinOpModifier) -> Labels {
    Labels::new(labels.iter().filter(|p| m.matching_labels.contains(&p.name) == m.on).cloned().collect())
}

/// One operand of a vector-vector operation at one step.
struct Side<'a> {
    series: &'a [StepSeries],
    /// The matching signature of every series.
    sigs: &'a [Labels],
    /// (series index, value) of the series that have a value at this step.
    at: Vec<(usize, f64)>,
}

impl Side<'_> {
    /// The signatures of the series present at this step.
    fn present_sigs(&self) -> HashSet<&Labels> {
        self.at.iter().map(|(i, _)| &self.sigs[*i]).collect()
    }
}

fn set_op(op: BinOp, l: &Side<'_>, r: &Side<'_>, step: usize, out: &mut Collector) {
    match op {
        BinOp::And => {
            if l.at.is_empty() || r.at.is_empty() {
                return;
            }
            let right = r.present_sigs();
            for (i, v) in &l.at {
                if right.contains(&l.sigs[*i]) {
                    out.put(step, l.series[*i].labels.clone(), *v);
                }
            }
        }
        BinOp::Unless => {
            let right = r.present_sigs();
            for (i, v) in &l.at {
                if !right.contains(&l.sigs[*i]) {
                    out.put(step, l.series[*i].labels.clone(), *v);
                }
            }
        }
        _ => {
            let left = l.present_sigs();
            for (i, v) in &l.at {
                out.put(step, l.series[*i].labels.clone(), *v);
            }
            for (i, v) in &r.at {
                if !left.contains(&r.sigs[*i]) {
                    out.put(step, r.series[*i].labels.clone(), *v);
                }
            }
        }
    }
}

/// Loki's `resultMetric`: a one-to-one match keeps the matching signature
/// (`on` labels, or all but the `ignoring` ones); `group_*` keeps the many
/// side's labels and copies the included ones from the one side.
fn result_metric(sig: &Labels, many: &Labels, one: &Labels, m: &BinOpModifier) -> Labels {
    let mut labels = if m.card == Cardinality::OneToOne { sig.clone() } else { many.clone() };
    for n in &m.include {
        match one.get(n) {
            Some(v) if !v.is_empty() => labels.set(n, v),
            _ => {
                labels.remove(n);
            }
        }
    }
    labels
}

fn vector_binop(
    op: BinOp,
    m: &BinOpModifier,
    l: &Side<'_>,
    r: &Side<'_>,
    step: usize,
    out: &mut Collector,
) -> Result<(), QueryError> {
    // The "many" side (or the left one for one-to-one) drives the match.
    let swap = m.card == Cardinality::OneToMany;
    let (many, one) = if swap { (r, l) } else { (l, r) };
    let mut one_side: HashMap<&Labels, (usize, f64)> = HashMap::new();
    for (i, v) in &one.at {
        if one_side.insert(&one.sigs[*i], (*i, *v)).is_some() {
            let side = if swap { "left" } else { "right" };
            return Err(QueryError::Execution(format!(
                "found duplicate series on the {side} hand-side;many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
    }
    let mut matched: HashMap<&Labels, HashSet<Labels>> = HashMap::new();
    for (i, v) in &many.at {
        let sig = &many.sigs[*i];
        let Some(&(oi, ov)) = one_side.get(sig) else { continue };
        let metric = result_metric(sig, &many.series[*i].labels, &one.series[oi].labels, m);
        let seen = matched.entry(sig).or_default();
        if m.card == Cardinality::OneToOne {
            if !seen.is_empty() {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                ));
            }
            seen.insert(Labels::default());
        } else if !seen.insert(metric.clone()) {
            return Err(QueryError::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        let (lv, rv) = if swap { (ov, *v) } else { (*v, ov) };
        let Some(res) = op.apply(lv, rv) else { continue };
        let value = if op.is_comparison() && !m.return_bool {
            if res != 1.0 {
                continue;
            }
            lv
        } else {
            res
        };
        out.put(step, metric, value);
    }
    Ok(())
}
