//! The typed LogQL syntax tree. `Display` (in `print.rs`) prints the
//! canonical form, as Loki's `String()` does.

use regex::Regex;

use crate::matcher::Matcher;

/// A parsed query: either a log query or a metric (sample) query.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Log(LogExpr),
    Sample(SampleExpr),
}

impl Expr {
    pub fn as_log(&self) -> Option<&LogExpr> {
        match self {
            Expr::Log(l) => Some(l),
            Expr::Sample(_) => None,
        }
    }

    pub fn as_sample(&self) -> Option<&SampleExpr> {
        match self {
            Expr::Sample(s) => Some(s),
            Expr::Log(_) => None,
        }
    }

    pub fn is_log(&self) -> bool {
        matches!(self, Expr::Log(_))
    }
}

/// `{matchers} stages...`
#[derive(Clone, Debug, PartialEq)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

// ---------------------------------------------------------------- pipeline

/// One stage of a log pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// `|= "a"`, `!~ "b"`, `|> "<_> x"`, `|= "a" or "b"`, `|= ip("...")`.
    LineFilter(LineFilter),
    /// `| logfmt [--strict] [--keep-empty] [a="b", c]`
    Logfmt { strict: bool, keep_empty: bool, params: Vec<LabelExtraction> },
    /// `| json [a="b.c", d]`
    Json { params: Vec<LabelExtraction> },
    /// `| regexp "<re with named groups>"`
    Regexp(String),
    /// `| pattern "<a> - <b>"`
    Pattern(String),
    /// `| unpack`
    Unpack,
    /// `| <label filter expression>`
    LabelFilter(LabelFilter),
    /// `| line_format "{{.x}}"`
    LineFormat(String),
    /// `| label_format a=b, c="{{.x}}"`
    LabelFormat(Vec<LabelFmt>),
    /// `| decolorize`
    Decolorize,
    /// `| drop a, b="v"`
    Drop(Vec<NamedMatcher>),
    /// `| keep a, b="v"`
    Keep(Vec<NamedMatcher>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Regex,
    /// `!~`
    NotRegex,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

impl LineFilterOp {
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }

    /// `!=`, `!~`, `!>`.
    pub fn is_negative(self) -> bool {
        matches!(self, LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern)
    }
}

/// The argument of a line filter: a string, or `ip("<pattern>")`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFilterArg {
    pub value: String,
    pub ip: bool,
}

/// A line filter. `or` holds further alternatives (`|= "a" or "b"`): the
/// line passes if any alternative matches. Negative filters never carry
/// alternatives: as in Loki, `!= "a" or "b"` parses as `!= "a" != "b"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFilter {
    pub op: LineFilterOp,
    pub arg: LineFilterArg,
    pub or: Vec<LineFilterArg>,
}

impl LineFilter {
    /// The first argument followed by the `or` alternatives.
    pub fn alternatives(&self) -> impl Iterator<Item = &LineFilterArg> {
        std::iter::once(&self.arg).chain(self.or.iter())
    }
}

/// `name="expression"` in `| json` / `| logfmt`; a bare `name` means
/// `name="name"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelExtraction {
    pub name: String,
    pub expr: String,
}

/// One assignment of `| label_format`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelFmt {
    /// `dst=src`
    Rename { dst: String, src: String },
    /// `dst="{{ template }}"`
    Template { dst: String, template: String },
}

/// An element of `| drop` / `| keep`: a bare label name or a matcher.
#[derive(Clone, Debug, PartialEq)]
pub enum NamedMatcher {
    Name(String),
    Matcher(Matcher),
}

/// Comparison of a label filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }

    pub fn compare<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
        }
    }
}

/// A label filter expression (`| level="error" and latency > 5s`).
#[derive(Clone, Debug, PartialEq)]
pub enum LabelFilter {
    /// `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`
    Matcher(Matcher),
    /// `name=ip("10.0.0.0/8")`, `name!=ip(...)`
    Ip { name: String, negate: bool, pattern: String },
    /// `name > 10`
    Number { name: String, op: CmpOp, value: f64 },
    /// `name > 5s` (nanoseconds)
    Duration { name: String, op: CmpOp, value_ns: i64 },
    /// `name > 20MB`
    Bytes { name: String, op: CmpOp, value: u64 },
    /// `a and b`, `a, b`, `a b`
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// `a or b`
    Or(Box<LabelFilter>, Box<LabelFilter>),
}

// ---------------------------------------------------------------- metrics

/// A metric query.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleExpr {
    RangeAggregation(RangeAggregation),
    VectorAggregation(VectorAggregation),
    BinOp(Box<BinOpExpr>),
    /// A number literal (`1`, `-2.5`); binary operations between literals
    /// are folded at parse time, as in Loki (`1+1` parses as `2`).
    Literal(f64),
    /// `vector(1)`
    Vector(f64),
    LabelReplace(Box<LabelReplace>),
}

impl SampleExpr {
    /// Whether evaluating this expression needs no log data (literals,
    /// `vector()`, and operations over them).
    pub fn is_data_free(&self) -> bool {
        match self {
            SampleExpr::RangeAggregation(_) => false,
            SampleExpr::VectorAggregation(v) => v.inner.is_data_free(),
            SampleExpr::BinOp(b) => b.lhs.is_data_free() && b.rhs.is_data_free(),
            SampleExpr::Literal(_) | SampleExpr::Vector(_) => true,
            SampleExpr::LabelReplace(l) => l.inner.is_data_free(),
        }
    }

    /// The log ranges the expression reads, left to right.
    pub fn log_ranges(&self) -> Vec<&LogRange> {
        let mut out = Vec::new();
        self.collect_ranges(&mut out);
        out
    }

    fn collect_ranges<'a>(&'a self, out: &mut Vec<&'a LogRange>) {
        match self {
            SampleExpr::RangeAggregation(r) => out.push(&r.range),
            SampleExpr::VectorAggregation(v) => v.inner.collect_ranges(out),
            SampleExpr::BinOp(b) => {
                b.lhs.collect_ranges(out);
                b.rhs.collect_ranges(out);
            }
            SampleExpr::Literal(_) | SampleExpr::Vector(_) => {}
            SampleExpr::LabelReplace(l) => l.inner.collect_ranges(out),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    AvgOverTime,
    SumOverTime,
    MinOverTime,
    MaxOverTime,
    StdvarOverTime,
    StddevOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
}

impl RangeOp {
    pub const ALL: [RangeOp; 15] = [
        RangeOp::CountOverTime,
        RangeOp::Rate,
        RangeOp::RateCounter,
        RangeOp::BytesOverTime,
        RangeOp::BytesRate,
        RangeOp::AvgOverTime,
        RangeOp::SumOverTime,
        RangeOp::MinOverTime,
        RangeOp::MaxOverTime,
        RangeOp::StdvarOverTime,
        RangeOp::StddevOverTime,
        RangeOp::QuantileOverTime,
        RangeOp::FirstOverTime,
        RangeOp::LastOverTime,
        RangeOp::AbsentOverTime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::AbsentOverTime => "absent_over_time",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Stddev,
    Stdvar,
    Count,
    Bottomk,
    Topk,
    Sort,
    SortDesc,
    ApproxTopk,
}

impl VectorOp {
    pub const ALL: [VectorOp; 12] = [
        VectorOp::Sum,
        VectorOp::Avg,
        VectorOp::Min,
        VectorOp::Max,
        VectorOp::Stddev,
        VectorOp::Stdvar,
        VectorOp::Count,
        VectorOp::Bottomk,
        VectorOp::Topk,
        VectorOp::Sort,
        VectorOp::SortDesc,
        VectorOp::ApproxTopk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Count => "count",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Topk => "topk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
            VectorOp::ApproxTopk => "approx_topk",
        }
    }

    /// `topk`, `bottomk` and `approx_topk` take a leading integer parameter.
    pub fn takes_param(self) -> bool {
        matches!(self, VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk)
    }
}

/// `by (a, b)` / `without (a)`. `by ()` (or no clause) aggregates everything
/// into one series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

impl Grouping {
    /// `by ()` or no grouping: a single output series.
    pub fn is_singleton(&self) -> bool {
        !self.without && self.labels.is_empty()
    }
}

/// `| unwrap [conv(]label[)] [| post filters]`
#[derive(Clone, Debug, PartialEq)]
pub struct Unwrap {
    pub label: String,
    pub conv: Option<UnwrapConv>,
    pub post_filters: Vec<LabelFilter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnwrapConv {
    Bytes,
    Duration,
    DurationSeconds,
}

impl UnwrapConv {
    pub fn as_str(self) -> &'static str {
        match self {
            UnwrapConv::Bytes => "bytes",
            UnwrapConv::Duration => "duration",
            UnwrapConv::DurationSeconds => "duration_seconds",
        }
    }
}

/// `<log expr> [| unwrap ...] [range] [offset d]`
#[derive(Clone, Debug, PartialEq)]
pub struct LogRange {
    pub selector: LogExpr,
    pub range_ns: i64,
    /// `offset`, in nanoseconds (0 when absent; may be negative).
    pub offset_ns: i64,
    pub unwrap: Option<Unwrap>,
}

/// `count_over_time({...}[5m])`, `quantile_over_time(0.99, ...) by (x)`
#[derive(Clone, Debug, PartialEq)]
pub struct RangeAggregation {
    pub op: RangeOp,
    /// The `quantile_over_time` parameter.
    pub param: Option<f64>,
    pub range: LogRange,
    pub grouping: Option<Grouping>,
}

/// `sum by (x) (...)`, `topk(5, ...)`
#[derive(Clone, Debug, PartialEq)]
pub struct VectorAggregation {
    pub op: VectorOp,
    /// The `topk` / `bottomk` / `approx_topk` parameter.
    pub param: Option<i64>,
    pub grouping: Grouping,
    pub inner: Box<SampleExpr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Or,
    And,
    Unless,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Unless => "unless",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Neq => "!=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
        }
    }

    /// Prometheus precedence: `or` < `and unless` < comparisons < `+ -` <
    /// `* / %` < `^`.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    pub fn is_right_assoc(self) -> bool {
        self == BinOp::Pow
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte)
    }

    /// `and`, `or`, `unless`.
    pub fn is_set_op(self) -> bool {
        matches!(self, BinOp::Or | BinOp::And | BinOp::Unless)
    }

    /// The operation on two sample values, as Loki's `MergeBinOp` computes
    /// it: comparisons give 1 or 0; division and modulo by zero give NaN.
    /// `None` for set operators.
    pub fn apply(self, l: f64, r: f64) -> Option<f64> {
        let b = |c: bool| if c { 1.0 } else { 0.0 };
        Some(match self {
            BinOp::Add => l + r,
            BinOp::Sub => l - r,
            BinOp::Mul => l * r,
            BinOp::Div => {
                if r == 0.0 {
                    f64::NAN
                } else {
                    l / r
                }
            }
            BinOp::Mod => {
                if r == 0.0 {
                    f64::NAN
                } else {
                    l % r
                }
            }
            BinOp::Pow => l.powf(r),
            BinOp::Eq => b(l == r),
            BinOp::Neq => b(l != r),
            BinOp::Gt => b(l > r),
            BinOp::Gte => b(l >= r),
            BinOp::Lt => b(l < r),
            BinOp::Lte => b(l <= r),
            BinOp::Or | BinOp::And | BinOp::Unless => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cardinality {
    #[default]
    OneToOne,
    /// `group_left`
    ManyToOne,
    /// `group_right`
    OneToMany,
}

/// `bool`, `on (...)` / `ignoring (...)`, `group_left (...)` / `group_right (...)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinOpModifier {
    pub return_bool: bool,
    /// `on (...)` was given (otherwise `matching_labels` are ignored labels).
    pub on: bool,
    pub matching_labels: Vec<String>,
    pub card: Cardinality,
    /// Extra labels of `group_left (a, b)` / `group_right (...)`.
    pub include: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BinOpExpr {
    pub op: BinOp,
    pub modifier: BinOpModifier,
    pub lhs: SampleExpr,
    pub rhs: SampleExpr,
}

/// `label_replace(expr, "dst", "replacement", "src", "regex")`
#[derive(Clone, Debug)]
pub struct LabelReplace {
    pub inner: SampleExpr,
    pub dst: String,
    pub replacement: String,
    pub src: String,
    pub regex: String,
    /// `^(?:regex)$`
    pub compiled: Regex,
}

impl PartialEq for LabelReplace {
    fn eq(&self, o: &Self) -> bool {
        self.inner == o.inner
            && self.dst == o.dst
            && self.replacement == o.replacement
            && self.src == o.src
            && self.regex == o.regex
    }
}
