//! The pretty printer: Loki's `syntax.Prettify` (`pkg/logql/syntax/prettier.go`),
//! as served by `/loki/api/v1/format_query`.
//!
//! Every node whose canonical form (`Display`) fits in the line width is
//! printed as that form, indented by two spaces per level. A node that is
//! too long is split: pipeline stages go one per line, function arguments go
//! on their own lines, and a binary operation puts its operator on a line of
//! its own between its indented operands.
//!
//! # Differences from Loki
//! Loki's pretty printer loses information in a few corner cases; Balsa
//! prints a form that reads back as the same query instead:
//! - a long line filter chain keeps its `or` alternatives;
//! - an empty `without ()` keeps its parentheses, and a range aggregation
//!   keeps an empty `by ()`;
//! - `on ()` and `ignoring () group_left` are kept;
//! - a split operand that binds looser than its operator is parenthesized
//!   (`(a + b) * c`);
//! - an offset that Prometheus' duration format cannot show exactly (negative
//!   or below a millisecond) is printed as a Go duration.

use crate::ast::*;
use crate::units::{fmt_float_g, fmt_go_duration, fmt_prom_duration, go_quote, parse_go_duration};

/// Loki's `MaxCharsPerLine`.
pub const MAX_CHARS_PER_LINE: usize = 100;

/// Prettifies an expression like Loki's `syntax.Prettify`.
pub fn pretty(e: &Expr) -> String {
    pretty_with_width(e, MAX_CHARS_PER_LINE)
}

/// [`pretty`] with another line width (Loki's tests use 20).
pub fn pretty_with_width(e: &Expr, width: usize) -> String {
    let p = Pretty { width };
    match e {
        Expr::Log(l) => p.log(l, 0),
        Expr::Sample(s) => p.sample(s, 0),
    }
}

struct Pretty {
    width: usize,
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

/// A stage of a pipeline as Loki groups them: consecutive line filters form
/// one stage.
enum Group<'a> {
    Filters(&'a [Stage]),
    Stage(&'a Stage),
}

fn groups(stages: &[Stage]) -> Vec<Group<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < stages.len() {
        if matches!(stages[i], Stage::LineFilter(_)) {
            let start = i;
            while i < stages.len() && matches!(stages[i], Stage::LineFilter(_)) {
                i += 1;
            }
            out.push(Group::Filters(&stages[start..i]));
        } else {
            out.push(Group::Stage(&stages[i]));
            i += 1;
        }
    }
    out
}

fn joined(stages: &[Stage]) -> String {
    stages.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" ")
}

impl Pretty {
    fn split(&self, s: &str) -> bool {
        s.len() > self.width
    }

    fn log(&self, l: &LogExpr, level: usize) -> String {
        let whole = l.to_string();
        if l.stages.is_empty() || !self.split(&whole) {
            return indent(level) + &whole;
        }
        let selector = LogExpr { matchers: l.matchers.clone(), stages: Vec::new() };
        let mut s = indent(level) + &selector.to_string();
        for g in groups(&l.stages) {
            s.push('\n');
            match g {
                Group::Filters(fs) => s.push_str(&self.filters(fs, level + 1)),
                // Loki does not indent `| decolorize`.
                Group::Stage(Stage::Decolorize) => s.push_str(&Stage::Decolorize.to_string()),
                Group::Stage(st) => {
                    s.push_str(&indent(level + 1));
                    s.push_str(&st.to_string());
                }
            }
        }
        s
    }

    /// A chain of line filters: on one line if it fits, otherwise the
    /// longest prefix that needs it is split further and the last filter
    /// goes on its own line.
    fn filters(&self, fs: &[Stage], level: usize) -> String {
        let whole = joined(fs);
        if !self.split(&whole) {
            return indent(level) + &whole;
        }
        let Some((last, rest)) = fs.split_last() else {
            return String::new();
        };
        let mut s = String::new();
        if !rest.is_empty() {
            s.push_str(&self.filters(rest, level));
            s.push('\n');
        }
        s.push_str(&indent(level));
        s.push_str(&last.to_string());
        s
    }

    fn unwrap(&self, u: &Unwrap, level: usize) -> String {
        let mut s = indent(level);
        match u.conv {
            Some(c) => s.push_str(&format!("| unwrap {}({})", c.as_str(), u.label)),
            None => s.push_str(&format!("| unwrap {}", u.label)),
        }
        for f in &u.post_filters {
            s.push_str(&format!("\n{}| {f}", indent(level)));
        }
        s
    }

    fn range(&self, r: &LogRange, level: usize) -> String {
        let mut s = self.log(&r.selector, level);
        if let Some(u) = &r.unwrap {
            s.push('\n');
            s.push_str(&self.unwrap(u, level + 1));
        }
        s.push_str(&format!(" [{}]", fmt_prom_duration(r.range_ns)));
        if r.offset_ns != 0 {
            s.push_str(" offset ");
            s.push_str(&fmt_offset(r.offset_ns));
        }
        s
    }

    fn grouping(g: &Grouping, keep_empty_by: bool) -> String {
        let mut s = String::new();
        if g.without {
            s.push_str(" without");
        } else if !g.labels.is_empty() || keep_empty_by {
            s.push_str(" by");
        }
        if !g.labels.is_empty() || g.without || keep_empty_by {
            s.push_str(&format!(" ({})", g.labels.join(", ")));
        }
        s
    }

    fn sample(&self, e: &SampleExpr, level: usize) -> String {
        let whole = e.to_string();
        if !self.split(&whole) {
            return indent(level) + &whole;
        }
        match e {
            SampleExpr::RangeAggregation(r) => {
                let mut s = indent(level) + r.op.as_str() + "(\n";
                if let Some(p) = r.param {
                    s.push_str(&format!("{}{},\n", indent(level + 1), fmt_float_g(p)));
                }
                s.push_str(&self.range(&r.range, level + 1));
                s.push('\n');
                s.push_str(&indent(level));
                s.push(')');
                if let Some(g) = &r.grouping {
                    s.push_str(&Self::grouping(g, true));
                }
                s
            }
            SampleExpr::VectorAggregation(v) => {
                let mut params = Vec::new();
                if v.op.takes_param() {
                    params.push(format!("{}{}", indent(level + 1), v.param.unwrap_or(0)));
                }
                params.push(self.sample(&v.inner, level + 1));
                let mut s = indent(level) + v.op.as_str();
                s.push_str(&Self::grouping(&v.grouping, false));
                s.push_str("(\n");
                s.push_str(&params.join(",\n"));
                s.push('\n');
                s.push_str(&indent(level));
                s.push(')');
                s
            }
            SampleExpr::BinOp(b) => {
                let mut s = self.operand(b.op, &b.lhs, true, level + 1);
                s.push('\n');
                s.push_str(&indent(level));
                s.push_str(&binop_text(b));
                s.push('\n');
                s.push_str(&self.operand(b.op, &b.rhs, false, level + 1));
                s
            }
            SampleExpr::LabelReplace(l) => {
                let params = [
                    self.sample(&l.inner, level + 1),
                    indent(level + 1) + &go_quote(&l.dst),
                    indent(level + 1) + &go_quote(&l.replacement),
                    indent(level + 1) + &go_quote(&l.src),
                    indent(level + 1) + &go_quote(&l.regex),
                ];
                format!("{}label_replace(\n{}\n{})", indent(level), params.join(",\n"), indent(level))
            }
            SampleExpr::Literal(_) | SampleExpr::Vector(_) => indent(level) + &whole,
        }
    }
}

impl Pretty {
    /// An operand of a split binary operation. A split operation loses the
    /// parentheses of its canonical form, so an operand that binds looser
    /// than its parent (`(a + b) * c`) is wrapped in parentheses of its own;
    /// Loki prints it bare, which reads back as another query.
    fn operand(&self, parent: BinOp, e: &SampleExpr, left: bool, level: usize) -> String {
        let inner = self.sample(e, level);
        let SampleExpr::BinOp(child) = e else {
            return inner;
        };
        let (p, c) = (parent.precedence(), child.op.precedence());
        let needs = c < p || (c == p && (left == parent.is_right_assoc()));
        if !needs || !inner.contains('\n') {
            return inner;
        }
        format!("{}(\n{}\n{})", indent(level), self.sample(e, level + 1), indent(level))
    }
}

/// The operator line of a split binary operation (Loki's `formatBinaryOp`):
/// `/`, `> bool`, `* on (a, b) group_left (c)`.
fn binop_text(b: &BinOpExpr) -> String {
    let m = &b.modifier;
    let mut op = b.op.as_str().to_string();
    if m.return_bool {
        op.push_str(" bool");
    }
    let mut group = match m.card {
        Cardinality::OneToOne => String::new(),
        Cardinality::ManyToOne => "group_left".to_string(),
        Cardinality::OneToMany => "group_right".to_string(),
    };
    if !m.include.is_empty() {
        group = format!("{group} ({})", m.include.join(", "));
    }
    if m.on || !m.matching_labels.is_empty() || m.card != Cardinality::OneToOne {
        let on = if m.on { "on" } else { "ignoring" };
        op = format!("{op} {on} ({}) {group}", m.matching_labels.join(", "));
    }
    op
}

/// Offsets print as Prometheus durations (`20m`, not `20m0s`), like Loki,
/// when that form is exact.
fn fmt_offset(ns: i64) -> String {
    let prom = fmt_prom_duration(ns);
    if ns > 0 && crate::units::parse_prom_duration(&prom) == Ok(ns) {
        return prom;
    }
    let go = fmt_go_duration(ns);
    debug_assert_eq!(parse_go_duration(&go), Ok(ns));
    go
}
