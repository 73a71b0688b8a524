//! Line filters: `|=`, `!=`, `|~`, `!~`, `|>`, `!>` with `or` alternatives
//! and `ip("...")`, run on the current line (which earlier stages such as
//! `line_format` may have rewritten).

use balsa_logql::matcher::regex_error;
use balsa_logql::pattern::{PatternNode, parse_pattern, validate_filter_pattern};
use balsa_logql::{LineFilter, LineFilterOp, Stage};
use memchr::memmem;
use regex::Regex;

use crate::error::QueryError;
use crate::ip::IpMatcher;

enum Alt {
    Contains(Box<memmem::Finder<'static>>),
    Regex(Regex),
    Pattern(Vec<PatternNode>),
    Ip(IpMatcher),
}

impl Alt {
    fn matches(&self, line: &str) -> bool {
        match self {
            Alt::Contains(f) => f.find(line.as_bytes()).is_some(),
            Alt::Regex(r) => r.is_match(line),
            Alt::Pattern(p) => pattern_test(p, line.as_bytes()),
            Alt::Ip(m) => m.matches_in(line.as_bytes()),
        }
    }
}

/// A compiled line filter stage.
pub(crate) struct LineMatcher {
    negate: bool,
    alts: Vec<Alt>,
}

impl LineMatcher {
    pub(crate) fn compile(f: &LineFilter, stage: &Stage) -> Result<Self, QueryError> {
        let mut alts = Vec::new();
        for arg in f.alternatives() {
            if arg.ip {
                if !matches!(f.op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                    return Err(stage_error(stage, "ip: invalid operation"));
                }
                alts.push(Alt::Ip(IpMatcher::parse(&arg.value).map_err(|e| stage_error(stage, e))?));
                continue;
            }
            alts.push(match f.op {
                LineFilterOp::Contains | LineFilterOp::NotContains => {
                    Alt::Contains(Box::new(memmem::Finder::new(arg.value.as_bytes()).into_owned()))
                }
                LineFilterOp::Regex | LineFilterOp::NotRegex => {
                    Alt::Regex(Regex::new(&arg.value).map_err(|e| stage_error(stage, regex_error(&e, &arg.value)))?)
                }
                LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                    let nodes = parse_pattern(&arg.value);
                    validate_filter_pattern(&nodes).map_err(|e| stage_error(stage, e))?;
                    Alt::Pattern(nodes)
                }
            });
        }
        Ok(Self { negate: f.op.is_negative(), alts })
    }

    /// The strings one of which every passing line contains, when the filter
    /// is a plain `|=` (with `or` alternatives).
    pub(crate) fn required_text(&self) -> Option<Vec<&[u8]>> {
        if self.negate {
            return None;
        }
        self.alts
            .iter()
            .map(|a| match a {
                Alt::Contains(f) => Some(f.needle()),
                _ => None,
            })
            .collect()
    }

    /// Whether the line passes the filter.
    pub(crate) fn matches(&self, line: &str) -> bool {
        self.alts.iter().any(|a| a.matches(line)) != self.negate
    }
}

pub(crate) fn stage_error(stage: &Stage, err: impl std::fmt::Display) -> QueryError {
    QueryError::BadQuery(format!("parse error : stage '{stage}' : {err}"))
}

/// Loki's pattern line-filter test: literals must appear in order; a
/// pattern ending in a literal must match up to the end of the line, one
/// ending in `<_>` must leave something for it; captures are never empty.
fn pattern_test(nodes: &[PatternNode], line: &[u8]) -> bool {
    if line.is_empty() || nodes.is_empty() {
        return line.is_empty() && nodes.is_empty();
    }
    let mut off = 0;
    for (i, n) in nodes.iter().enumerate() {
        let PatternNode::Literal(lit) = n else { continue };
        let Some(j) = memmem::find(&line[off..], lit.as_bytes()) else {
            return false;
        };
        if i != 0 && j == 0 {
            return false;
        }
        off += j + lit.len();
    }
    let ends_with_capture = matches!(nodes.last(), Some(PatternNode::Capture(_)));
    ends_with_capture == (off != line.len())
}
