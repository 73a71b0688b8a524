//! Metric queries that need no log data: literals, `vector()`, binary
//! operations, vector aggregations and `label_replace` over them. This is
//! enough for Grafana's health check (`vector(1)+vector(1)` → one sample of
//! value 2 without labels). Range aggregations over logs (`rate`,
//! `count_over_time`, ...) return [`QueryError::Unsupported`] for now.

use std::collections::{BTreeMap, HashMap, HashSet};

use balsa_logql::{BinOp, BinOpExpr, Cardinality, Grouping, SampleExpr, VectorAggregation, VectorOp};
use balsa_model::{Labels, StreamReader};

use crate::error::QueryError;

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

/// Evaluates a metric query at `ts_ns`.
pub fn eval_instant(
    readers: &[&dyn StreamReader],
    tenant: &str,
    expr: &SampleExpr,
    ts_ns: i64,
) -> Result<InstantValue, QueryError> {
    // Readers and tenant are used once range aggregations are implemented.
    let _ = (readers, tenant, ts_ns);
    if !expr.is_data_free() {
        return Err(QueryError::unsupported(
            "metric queries over log data (range aggregations such as count_over_time or rate)",
        ));
    }
    eval(expr)
}

/// Evaluates a metric query at every step from `start_ns` to `end_ns`
/// (inclusive); scalars become a series without labels.
pub fn eval_range(
    readers: &[&dyn StreamReader],
    tenant: &str,
    expr: &SampleExpr,
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
) -> Result<Vec<Series>, QueryError> {
    if step_ns <= 0 {
        return Err(QueryError::BadQuery(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end_ns < start_ns {
        return Err(QueryError::BadQuery("end timestamp must not be before start time".into()));
    }
    if (end_ns - start_ns) / step_ns >= MAX_POINTS_PER_SERIES {
        return Err(QueryError::BadQuery(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut t = start_ns;
    while t <= end_ns {
        match eval_instant(readers, tenant, expr, t)? {
            InstantValue::Scalar(v) => out.entry(Labels::default()).or_default().push((t, v)),
            InstantValue::Vector(samples) => {
                for s in samples {
                    out.entry(s.labels).or_default().push((t, s.value));
                }
            }
        }
        t = match t.checked_add(step_ns) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(out.into_iter().map(|(labels, points)| Series { labels, points }).collect())
}

fn eval(expr: &SampleExpr) -> Result<InstantValue, QueryError> {
    match expr {
        SampleExpr::Literal(v) => Ok(InstantValue::Scalar(*v)),
        SampleExpr::Vector(v) => Ok(InstantValue::Vector(vec![Sample { labels: Labels::default(), value: *v }])),
        SampleExpr::BinOp(b) => eval_binop(b),
        SampleExpr::VectorAggregation(a) => eval_aggregation(a),
        SampleExpr::LabelReplace(l) => {
            let InstantValue::Vector(samples) = eval(&l.inner)? else {
                return Err(QueryError::BadQuery("label_replace requires a vector".into()));
            };
            let mut out = Vec::with_capacity(samples.len());
            for mut s in samples {
                let src = s.labels.get(&l.src).unwrap_or("").to_string();
                if let Some(caps) = l.compiled.captures(&src) {
                    let mut v = String::new();
                    caps.expand(&l.replacement, &mut v);
                    if v.is_empty() {
                        s.labels.remove(&l.dst);
                    } else {
                        s.labels.set(&l.dst, &v);
                    }
                }
                out.push(s);
            }
            Ok(InstantValue::Vector(out))
        }
        SampleExpr::RangeAggregation(_) => Err(QueryError::unsupported("range aggregations over log data")),
    }
}

/// Applies `op` to a sample pair. `None` drops the sample (a false
/// comparison without `bool`); otherwise the value to keep.
fn apply(op: BinOp, return_bool: bool, l: f64, r: f64, keep: f64) -> Option<f64> {
    let v = op.apply(l, r)?;
    if op.is_comparison() && !return_bool {
        return if v == 1.0 { Some(keep) } else { None };
    }
    Some(v)
}

fn signature(labels: &Labels, on: bool, names: &[String]) -> Labels {
    Labels::new(labels.iter().filter(|p| names.iter().any(|n| n == &p.name) == on).cloned().collect())
}

fn eval_binop(b: &BinOpExpr) -> Result<InstantValue, QueryError> {
    let lhs = eval(&b.lhs)?;
    let rhs = eval(&b.rhs)?;
    let m = &b.modifier;
    let op = b.op;
    match (lhs, rhs) {
        (InstantValue::Scalar(l), InstantValue::Scalar(r)) => match op.apply(l, r) {
            Some(v) => Ok(InstantValue::Scalar(v)),
            None => Err(set_op_scalar(op)),
        },
        (InstantValue::Vector(v), InstantValue::Scalar(s)) => {
            if op.is_set_op() {
                return Err(set_op_scalar(op));
            }
            Ok(InstantValue::Vector(
                v.into_iter()
                    .filter_map(|x| apply(op, m.return_bool, x.value, s, x.value).map(|value| Sample { value, ..x }))
                    .collect(),
            ))
        }
        (InstantValue::Scalar(s), InstantValue::Vector(v)) => {
            if op.is_set_op() {
                return Err(set_op_scalar(op));
            }
            Ok(InstantValue::Vector(
                v.into_iter()
                    .filter_map(|x| apply(op, m.return_bool, s, x.value, x.value).map(|value| Sample { value, ..x }))
                    .collect(),
            ))
        }
        (InstantValue::Vector(l), InstantValue::Vector(r)) => {
            let sig = |s: &Sample| signature(&s.labels, m.on, &m.matching_labels);
            if op.is_set_op() {
                let rsigs: HashSet<Labels> = r.iter().map(sig).collect();
                let out = match op {
                    BinOp::And => l.into_iter().filter(|s| rsigs.contains(&sig(s))).collect(),
                    BinOp::Unless => l.into_iter().filter(|s| !rsigs.contains(&sig(s))).collect(),
                    _ => {
                        let lsigs: HashSet<Labels> = l.iter().map(sig).collect();
                        let mut out = l;
                        out.extend(r.into_iter().filter(|s| !lsigs.contains(&sig(s))));
                        out
                    }
                };
                return Ok(InstantValue::Vector(out));
            }
            if m.card != Cardinality::OneToOne {
                return Err(QueryError::unsupported("group_left / group_right vector matching"));
            }
            let mut right: HashMap<Labels, f64> = HashMap::new();
            for s in &r {
                if right.insert(sig(s), s.value).is_some() {
                    return Err(QueryError::BadQuery(format!(
                        "found duplicate series for the match group {} on the right hand-side of the operation: many-to-many matching not allowed: matching labels must be unique on one side",
                        sig(s)
                    )));
                }
            }
            let mut used = HashSet::new();
            let mut out = Vec::new();
            for s in l {
                let key = sig(&s);
                let Some(&rv) = right.get(&key) else { continue };
                if !used.insert(key.clone()) {
                    return Err(QueryError::BadQuery(format!(
                        "multiple matches for labels {key}: many-to-one matching must be explicit (group_left/group_right)"
                    )));
                }
                if let Some(value) = apply(op, m.return_bool, s.value, rv, s.value) {
                    let labels = if m.on {
                        signature(&s.labels, true, &m.matching_labels)
                    } else {
                        signature(&s.labels, false, &m.matching_labels)
                    };
                    out.push(Sample { labels, value });
                }
            }
            Ok(InstantValue::Vector(out))
        }
    }
}

fn set_op_scalar(op: BinOp) -> QueryError {
    QueryError::BadQuery(format!("set operator \"{}\" not allowed in binary scalar expression", op.as_str()))
}

fn group_key(labels: &Labels, g: &Grouping) -> Labels {
    signature(labels, !g.without, &g.labels)
}

fn eval_aggregation(a: &VectorAggregation) -> Result<InstantValue, QueryError> {
    let InstantValue::Vector(samples) = eval(&a.inner)? else {
        return Err(QueryError::BadQuery(format!("{} requires a vector", a.op.as_str())));
    };
    match a.op {
        VectorOp::Sort | VectorOp::SortDesc => {
            let mut s = samples;
            s.sort_by(|x, y| x.value.total_cmp(&y.value).then_with(|| x.labels.cmp(&y.labels)));
            if a.op == VectorOp::SortDesc {
                s.reverse();
            }
            return Ok(InstantValue::Vector(s));
        }
        VectorOp::ApproxTopk => return Err(QueryError::unsupported("approx_topk")),
        _ => {}
    }
    let mut groups: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        groups.entry(group_key(&s.labels, &a.grouping)).or_default().push(s);
    }
    let mut out = Vec::new();
    for (key, members) in groups {
        let values: Vec<f64> = members.iter().map(|s| s.value).collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let value = match a.op {
            VectorOp::Sum => values.iter().sum(),
            VectorOp::Avg => mean,
            VectorOp::Count => n,
            VectorOp::Min => values.iter().copied().fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m }),
            VectorOp::Max => values.iter().copied().fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m }),
            VectorOp::Stdvar => var,
            VectorOp::Stddev => var.sqrt(),
            VectorOp::Topk | VectorOp::Bottomk => {
                let k = a.param.unwrap_or(1).max(0) as usize;
                let mut m = members;
                m.sort_by(|x, y| {
                    let c = x.value.total_cmp(&y.value);
                    if a.op == VectorOp::Topk { c.reverse() } else { c }
                });
                m.truncate(k);
                out.extend(m);
                continue;
            }
            VectorOp::Sort | VectorOp::SortDesc | VectorOp::ApproxTopk => unreachable!("handled above"),
        };
        out.push(Sample { labels: key, value });
    }
    Ok(InstantValue::Vector(out))
}
