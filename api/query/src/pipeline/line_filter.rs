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
    /// With the literals one of which starts every match, when there are a
    /// few (see [`regex_literals`]).
    Regex(Regex, Option<Vec<Vec<u8>>>),
    Pattern(Vec<PatternNode>),
    Ip(IpMatcher),
}

/// At most this many literals make a regex's hint; more (as `(?i)` makes)
/// would cost more searches per block than they save.
const MAX_REGEX_LITERALS: usize = 8;

/// Literals one of which every match of `pattern` starts with (regex-syntax's
/// prefix extraction, as the regex engine's own prefilter uses), or `None`
/// when the set is unbounded, large, or holds the empty string.
fn regex_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::Extractor;
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let seq = Extractor::new().extract(&hir);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > MAX_REGEX_LITERALS || lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

impl Alt {
    fn matches(&self, line: &str) -> bool {
        match self {
            Alt::Contains(f) => f.find(line.as_bytes()).is_some(),
            Alt::Regex(r, _) => r.is_match(line),
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
                LineFilterOp::Regex | LineFilterOp::NotRegex => Alt::Regex(
                    Regex::new(&arg.value).map_err(|e| stage_error(stage, regex_error(&e, &arg.value)))?,
                    // Only a positive filter makes a hint.
                    if f.op == LineFilterOp::Regex { regex_literals(&arg.value) } else { None },
                ),
                LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                    let nodes = parse_pattern(&arg.value);
                    validate_filter_pattern(&nodes).map_err(|e| stage_error(stage, e))?;
                    Alt::Pattern(nodes)
                }
            });
        }
        Ok(Self { negate: f.op.is_negative(), alts })
    }

    /// Strings one of which every passing line contains, when the filter is
    /// positive and each alternative has some: a `|=` string, a regex's
    /// prefix literals, a pattern's longest literal.
    pub(crate) fn required_text(&self) -> Option<Vec<Vec<u8>>> {
        if self.negate {
            return None;
        }
        let mut out = Vec::new();
        for alt in &self.alts {
            match alt {
                Alt::Contains(f) => out.push(f.needle().to_vec()),
                Alt::Regex(_, Some(lits)) => out.extend(lits.iter().cloned()),
                Alt::Pattern(nodes) => {
                    let longest = nodes
                        .iter()
                        .filter_map(|n| match n {
                            PatternNode::Literal(l) => Some(l.as_bytes()),
                            PatternNode::Capture(_) => None,
                        })
                        .max_by_key(|l| l.len())?;
                    out.push(longest.to_vec());
                }
                Alt::Regex(_, None) | Alt::Ip(_) => return None,
            }
        }
        Some(out)
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

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Every line a regex matches holds one of its literals.
    #[test]
    fn regex_literals_are_in_every_matching_line() {
        let patterns = [
            "ab",
            "a|b",
            "ab|ac",
            "a+b",
            "a*b",
            "(ab)+c",
            "a[bc]d",
            "^ab",
            "ab$",
            "a.b",
            "(?i)ab",
            "ab?c",
            "a{2}b",
            "[ab]{1,2}c",
            "(a|b)(c|d)",
            r"\bab",
            "é|ab",
            "(?s)a.b",
            "b(a|)c",
            "(?:ab)*c",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut hinted = 0;
        for p in patterns {
            let re = Regex::new(p).unwrap();
            let Some(lits) = regex_literals(p) else { continue };
            hinted += 1;
            let hint = balsa_model::LineHint::new([lits]);
            for _ in 0..3000 {
                let len = rng.random_range(0..8);
                let line: String =
                    (0..len).map(|_| ['a', 'b', 'c', 'd', 'A', 'B', 'é', '\n', ' '][rng.random_range(0..9)]).collect();
                if re.is_match(&line) {
                    assert!(hint.may_contain(line.as_bytes()), "{p} matches {line:?} but the hint rules it out");
                }
            }
        }
        assert!(hinted >= 12, "most of these patterns have literals ({hinted})");
    }
}
