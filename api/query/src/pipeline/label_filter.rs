//! Label filters (`pkg/logql/log/label_filter.go`): string matchers,
//! numbers, durations, bytes and `ip()`, combined with `and` / `or`.
//!
//! String matchers compare the value (`""` when absent; `__error__` is the
//! error field) and are the only filters that look at errors. The others drop
//! the entry when the label is missing and, when the value does not convert,
//! keep it and set `__error__=LabelFilterErr` (unless an error is already
//! set).

use balsa_logql::label_regex::{LabelRegex, simplify_label_regex};
use balsa_logql::matcher::regex_error;
use balsa_logql::units::parse_bytes;
use balsa_logql::{CmpOp, LabelFilter, MatchOp, Matcher};
use regex::Regex;

use super::labels::{ERROR_LABEL, LabelSet};
use crate::convert::{parse_float, parse_go_duration_ns};
use crate::error::QueryError;
use crate::ip::IpMatcher;

pub(crate) const LABEL_FILTER_ERR: &str = "LabelFilterErr";

/// A compiled label filter, used as a pipeline stage and by
/// `| unwrap x | <post filters>`.
pub(crate) enum LabelPredicate {
    Matcher(Matcher),
    /// `=~` / `!~`, matched as Loki does (see [`RegexFilter`]).
    Regex {
        name: String,
        negate: bool,
        filter: RegexFilter,
    },
    Ip {
        name: String,
        negate: bool,
        matcher: IpMatcher,
    },
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    Duration {
        name: String,
        op: CmpOp,
        value_ns: i64,
    },
    Bytes {
        name: String,
        op: CmpOp,
        value: u64,
    },
    And(Box<LabelPredicate>, Box<LabelPredicate>),
    Or(Box<LabelPredicate>, Box<LabelPredicate>),
}

/// A regex label filter as Loki runs it (`NewStringLabelFilter`): the string
/// filters Loki simplifies the regex into when it can (so `E.*` keeps any
/// value containing `E`), else the regex anchored as `^(?:re)$` (where `.`
/// does not match a newline, unlike in stream selectors).
pub(crate) enum RegexFilter {
    Simple(LabelRegex),
    Regex(Regex),
}

impl RegexFilter {
    pub(crate) fn compile(re: &str) -> Result<RegexFilter, String> {
        Ok(match simplify_label_regex(re) {
            Some(s) => RegexFilter::Simple(s),
            None => RegexFilter::Regex(Regex::new(&format!("^(?:{re})$")).map_err(|e| regex_error(&e, re))?),
        })
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            RegexFilter::Simple(s) => s.matches(value),
            RegexFilter::Regex(r) => r.is_match(value),
        }
    }
}

impl LabelPredicate {
    pub(crate) fn compile(f: &LabelFilter) -> Result<LabelPredicate, QueryError> {
        Ok(match f {
            LabelFilter::Matcher(m) if matches!(m.op, MatchOp::Re | MatchOp::Nre) => LabelPredicate::Regex {
                name: m.name.clone(),
                negate: m.op == MatchOp::Nre,
                filter: RegexFilter::compile(&m.value)
                    .map_err(|e| QueryError::BadQuery(format!("parse error : label filter '{f}' : {e}")))?,
            },
            LabelFilter::Matcher(m) => LabelPredicate::Matcher(m.clone()),
            LabelFilter::Ip { name, negate, pattern } => LabelPredicate::Ip {
                name: name.clone(),
                negate: *negate,
                matcher: IpMatcher::parse(pattern)
                    .map_err(|e| QueryError::BadQuery(format!("parse error : label filter '{f}' : {e}")))?,
            },
            LabelFilter::Number { name, op, value } => {
                LabelPredicate::Number { name: name.clone(), op: *op, value: *value }
            }
            LabelFilter::Duration { name, op, value_ns } => {
                LabelPredicate::Duration { name: name.clone(), op: *op, value_ns: *value_ns }
            }
            LabelFilter::Bytes { name, op, value } => {
                LabelPredicate::Bytes { name: name.clone(), op: *op, value: *value }
            }
            LabelFilter::And(a, b) => LabelPredicate::And(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?)),
            LabelFilter::Or(a, b) => LabelPredicate::Or(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?)),
        })
    }

    /// Whether the entry passes; may set `__error__` as Loki does.
    pub(crate) fn test(&self, labels: &mut LabelSet) -> bool {
        match self {
            LabelPredicate::Matcher(m) => {
                let v = if m.name == ERROR_LABEL { labels.error() } else { labels.get(&m.name).unwrap_or("") };
                m.matches(v)
            }
            LabelPredicate::Regex { name, negate, filter } => {
                let v = if name == ERROR_LABEL { labels.error() } else { labels.get(name).unwrap_or("") };
                filter.matches(v) != *negate
            }
            LabelPredicate::Ip { name, negate, matcher } => {
                if labels.has_error() {
                    return true;
                }
                match labels.get(name) {
                    Some(v) => matcher.matches_in(v.as_bytes()) != *negate,
                    None => false,
                }
            }
            LabelPredicate::Number { name, op, value } => compare(labels, name, parse_float, |v| op.compare(v, *value)),
            LabelPredicate::Duration { name, op, value_ns } => {
                compare(labels, name, parse_go_duration_ns, |v| op.compare(v, *value_ns))
            }
            LabelPredicate::Bytes { name, op, value } => compare(labels, name, parse_bytes, |v| op.compare(v, *value)),
            LabelPredicate::And(a, b) => {
                // Both sides run (they may set errors), as in Loki.
                let l = a.test(labels);
                let r = b.test(labels);
                l && r
            }
            LabelPredicate::Or(a, b) => a.test(labels) || b.test(labels),
        }
    }
}

fn compare<T>(
    labels: &mut LabelSet,
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    cmp: impl Fn(T) -> bool,
) -> bool {
    let Some(raw) = labels.get(name) else {
        return false;
    };
    match parse(raw) {
        Ok(v) => cmp(v),
        Err(details) => {
            if !labels.has_error() {
                labels.set_error(LABEL_FILTER_ERR, &details);
            }
            true
        }
    }
}
