//! The canonical printer: `Display` for the AST, producing what Loki's
//! `Expr.String()` produces (e.g. `vector(1)+vector(1)` prints as
//! `(vector(1.000000) + vector(1.000000))`).

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::units::{
    fmt_float_f, fmt_float_g, fmt_go_duration, fmt_humanize_bytes, fmt_prom_duration, go_quote, parse_bytes,
};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Sample(s) => s.fmt(f),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            m.fmt(f)?;
        }
        f.write_char('}')?;
        for s in &self.stages {
            f.write_char(' ')?;
            s.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for LineFilterArg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.ip { write!(f, "ip({})", go_quote(&self.value)) } else { f.write_str(&go_quote(&self.value)) }
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.arg)?;
        for alt in &self.or {
            write!(f, " or {alt}")?;
        }
        Ok(())
    }
}

fn write_extractions(f: &mut Formatter<'_>, params: &[LabelExtraction]) -> fmt::Result {
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{}={}", p.name, go_quote(&p.expr))?;
    }
    Ok(())
}

fn write_named(f: &mut Formatter<'_>, items: &[NamedMatcher]) -> fmt::Result {
    for (i, n) in items.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        match n {
            NamedMatcher::Name(s) => f.write_str(s)?,
            NamedMatcher::Matcher(m) => m.fmt(f)?,
        }
    }
    Ok(())
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(l) => l.fmt(f),
            Stage::Logfmt { strict, keep_empty, params } => {
                if params.is_empty() {
                    f.write_str("| logfmt")?;
                    if *strict {
                        f.write_str(" --strict")?;
                    }
                    if *keep_empty {
                        f.write_str(" --keep-empty")?;
                    }
                    Ok(())
                } else {
                    f.write_str("| logfmt ")?;
                    if *strict {
                        f.write_str("--strict ")?;
                    }
                    if *keep_empty {
                        f.write_str("--keep-empty ")?;
                    }
                    write_extractions(f, params)
                }
            }
            Stage::Json { params } => {
                if params.is_empty() {
                    f.write_str("| json")
                } else {
                    f.write_str("| json ")?;
                    write_extractions(f, params)
                }
            }
            Stage::Regexp(r) => write!(f, "| regexp {}", go_quote(r)),
            Stage::Pattern(p) => write!(f, "| pattern {}", go_quote(p)),
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(l) => write!(f, "| {l}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", go_quote(t)),
            Stage::LabelFormat(fmts) => {
                f.write_str("| label_format ")?;
                for (i, l) in fmts.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    match l {
                        LabelFmt::Rename { dst, src } => write!(f, "{dst}={src}")?,
                        LabelFmt::Template { dst, template } => write!(f, "{dst}={}", go_quote(template))?,
                    }
                }
                Ok(())
            }
            Stage::Decolorize => f.write_str("| decolorize"),
            Stage::Drop(items) => {
                f.write_str("| drop ")?;
                write_named(f, items)
            }
            Stage::Keep(items) => {
                f.write_str("| keep ")?;
                write_named(f, items)
            }
        }
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            // Loki prints a regex it did not simplify into string filters
            // with backticks (`LineFilterLabelFilter.String`), unless the
            // regex holds a backtick.
            LabelFilter::Matcher(m)
                if matches!(m.op, crate::MatchOp::Re | crate::MatchOp::Nre)
                    && !m.value.contains('`')
                    && crate::label_regex::simplify_label_regex(&m.value).is_none() =>
            {
                write!(f, "{}{}`{}`", m.name, m.op.as_str(), m.value)
            }
            LabelFilter::Matcher(m) => m.fmt(f),
            LabelFilter::Ip { name, negate, pattern } => {
                write!(f, "{name}{}ip({})", if *negate { "!=" } else { "=" }, go_quote(pattern))
            }
            // `+ 0.0` turns -0 into 0: `-0` would read back as a duration.
            LabelFilter::Number { name, op, value } => write!(f, "{name}{}{}", op.as_str(), fmt_float_f(*value + 0.0)),
            LabelFilter::Duration { name, op, value_ns } => {
                write!(f, "{name}{}{}", op.as_str(), fmt_go_duration(*value_ns))
            }
            LabelFilter::Bytes { name, op, value } => write!(f, "{name}{}{}", op.as_str(), fmt_bytes_exact(*value)),
            LabelFilter::And(a, b) => write!(f, "( {a} , {b} )"),
            LabelFilter::Or(a, b) => write!(f, "( {a} or {b} )"),
        }
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, " {} ({})", if self.without { "without" } else { "by" }, self.labels.join(","))
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conv {
            Some(c) => write!(f, " | unwrap {}({})", c.as_str(), self.label)?,
            None => write!(f, " | unwrap {}", self.label)?,
        }
        for p in &self.post_filters {
            write!(f, " | {p}")?;
        }
        Ok(())
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.selector.fmt(f)?;
        if let Some(u) = &self.unwrap {
            u.fmt(f)?;
        }
        write!(f, "[{}]", fmt_prom_duration(self.range_ns))?;
        if self.offset_ns != 0 {
            write!(f, " offset {}", fmt_go_duration(self.offset_ns))?;
        }
        Ok(())
    }
}

impl Display for SampleExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::RangeAggregation(r) => {
                write!(f, "{}(", r.op.as_str())?;
                if let Some(p) = r.param {
                    write!(f, "{},", fmt_float_f(p))?;
                }
                write!(f, "{})", r.range)?;
                if let Some(g) = &r.grouping {
                    g.fmt(f)?;
                }
                Ok(())
            }
            SampleExpr::VectorAggregation(v) => {
                f.write_str(v.op.as_str())?;
                if !v.grouping.is_singleton() {
                    v.grouping.fmt(f)?;
                }
                f.write_char('(')?;
                if v.op.takes_param() {
                    write!(f, "{},", v.param.unwrap_or(0))?;
                }
                write!(f, "{})", v.inner)
            }
            SampleExpr::BinOp(b) => {
                let m = &b.modifier;
                let mut op = b.op.as_str().to_string();
                if m.return_bool {
                    op.push_str(" bool");
                }
                let mut group = match m.card {
                    Cardinality::ManyToOne => "group_left".to_string(),
                    Cardinality::OneToMany => "group_right".to_string(),
                    Cardinality::OneToOne => String::new(),
                };
                if !m.include.is_empty() {
                    group = format!("{group} ({})", m.include.join(","));
                }
                // Loki omits `ignoring () group_left`, which loses the
                // cardinality; Balsa keeps it so the form reparses the same.
                if m.on || !m.matching_labels.is_empty() || m.card != Cardinality::OneToOne {
                    op = format!(
                        "{op} {} ({}) {group}",
                        if m.on { "on" } else { "ignoring" },
                        m.matching_labels.join(",")
                    );
                }
                write!(f, "({} {op} {})", b.lhs, b.rhs)
            }
            SampleExpr::Literal(v) => f.write_str(&fmt_float_g(*v + 0.0)),
            SampleExpr::Vector(v) => write!(f, "vector({})", fmt_vector_value(*v)),
            SampleExpr::LabelReplace(l) => write!(
                f,
                "label_replace({},{},{},{},{})",
                l.inner,
                go_quote(&l.dst),
                go_quote(&l.replacement),
                go_quote(&l.src),
                go_quote(&l.regex)
            ),
        }
    }
}

/// Bytes as Loki prints them (go-humanize, SI units, no space: `20MB`,
/// `1.0kB`) when that form reads back as the same value; otherwise an exact
/// form (`1KiB`, `1234B`). Loki always prints the rounded SI form, which
/// changes the filter (`1KiB` would read back as 1000).
pub(crate) fn fmt_bytes_exact(v: u64) -> String {
    if v == 0 {
        // Loki prints `0B`, which its lexer reads as a binary literal.
        return "0kB".to_string();
    }
    let h = fmt_humanize_bytes(v);
    if !h.contains('E') && parse_bytes(&h) == Ok(v) {
        return h;
    }
    for (unit, mult) in [("PiB", 1u64 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if v >= mult && v.is_multiple_of(mult) {
            return format!("{}{unit}", v / mult);
        }
    }
    format!("{v}B")
}

/// `vector()` values print with Go's `%f` (six decimals) like Loki, unless
/// that would change the value (`vector(0.0000001)`), in which case the
/// shortest exact decimal is used.
pub(crate) fn fmt_vector_value(v: f64) -> String {
    let six = format!("{v:.6}");
    if !v.is_finite() || six.parse::<f64>().ok() == Some(v) { six } else { fmt_float_f(v) }
}
