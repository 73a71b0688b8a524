//! Line filters: `|=`, `!=`, `|~`, `!~`, `|>`, `!>` with `or` alternatives
//! and `ip("...")`, run on the current line (which earlier stages such as
//! `line_format` may have rewritten).

use balsa_logql::matcher::regex_error;
use balsa_logql::pattern::{PatternNode, parse_pattern, validate_filter_pattern};
use balsa_logql::{LineFilter, LineFilterOp, Stage};
use balsa_model::{BytePattern, Needle};
use memchr::memmem;
use regex::Regex;

use crate::error::QueryError;
use crate::ip::IpMatcher;

enum Alt {
    Contains(Box<memmem::Finder<'static>>),
    /// With what storage may search blocks for (see [`regex_needles`]).
    Regex(Regex, Option<Vec<Needle>>),
    Pattern(Vec<PatternNode>),
    Ip(IpMatcher),
}

/// At most this many literals make a regex's hint; more (as `(?i)` makes)
/// would cost more searches per block than they save.
const MAX_REGEX_LITERALS: usize = 8;

/// Literals one of which every match of `hir` starts with (regex-syntax's
/// prefix extraction, as the regex engine's own prefilter uses), or `None`
/// when the set is unbounded, large, or holds the empty string.
fn regex_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::Extractor;
    let seq = Extractor::new().extract(hir);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.len() > MAX_REGEX_LITERALS || lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

/// What a positive regex filter lets storage search blocks for: its prefix
/// literals when there are a few; otherwise the regex itself, when its
/// matches do not depend on the text around them (no `^`, `$`, `\b` or other
/// look-around, which would see a block's framing bytes instead of a line's
/// edges) and are never empty. `(?i)error` is the common case: too many
/// literals, one fast search per block.
fn regex_needles(pattern: &str) -> Option<Vec<Needle>> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    if let Some(lits) = regex_literals(&hir) {
        return Some(lits.into_iter().map(Needle::Text).collect());
    }
    let props = hir.properties();
    if !props.look_set().is_empty() || props.minimum_len().is_none_or(|n| n == 0) {
        return None;
    }
    let re = regex::bytes::Regex::new(pattern).ok()?;
    Some(vec![Needle::Pattern(std::sync::Arc::new(BlockRegex(re)))])
}

/// A line filter's regex run over encoded blocks (see [`regex_needles`]).
#[derive(Debug)]
struct BlockRegex(regex::bytes::Regex);

impl BytePattern for BlockRegex {
    fn is_in(&self, bytes: &[u8]) -> bool {
        self.0.is_match(bytes)
    }
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
                    if f.op == LineFilterOp::Regex { regex_needles(&arg.value) } else { None },
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

    /// Needles one of which every passing line holds, when the filter is
    /// positive and each alternative has some: a `|=` string, a regex's
    /// prefix literals or the regex itself, a pattern's longest literal.
    pub(crate) fn required(&self) -> Option<Vec<Needle>> {
        if self.negate {
            return None;
        }
        let mut out = Vec::new();
        for alt in &self.alts {
            match alt {
                Alt::Contains(f) => out.push(Needle::Text(f.needle().to_vec())),
                Alt::Regex(_, Some(needles)) => out.extend(needles.iter().cloned()),
                Alt::Pattern(nodes) => {
                    let longest = nodes
                        .iter()
                        .filter_map(|n| match n {
                            PatternNode::Literal(l) => Some(l.as_bytes()),
                            PatternNode::Capture(_) => None,
                        })
                        .max_by_key(|l| l.len())?;
                    out.push(Needle::Text(longest.to_vec()));
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

    /// Every line a regex matches passes its hint, on its own and inside
    /// other bytes (as in a block of encoded entries).
    #[test]
    fn regex_hints_pass_every_matching_line_alone_and_in_a_block() {
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
            "(?i)abcdé",
            "ab?c",
            "a{2}b",
            "[ab]{1,2}c",
            "(a|b)(c|d)",
            r"\bab",
            "é|ab",
            "(?s)a.b",
            "b(a|)c",
            "(?:ab)*c",
            ".*b.*",
            "[^a]b",
            r"\w+é",
            "(?m)^a",
            "a*",
        ];
        let alphabet = ['a', 'b', 'c', 'd', 'A', 'B', 'C', 'D', 'é', 'É', '\n', ' '];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (mut literal, mut whole) = (0, 0);
        for p in patterns {
            let re = Regex::new(p).unwrap();
            let Some(needles) = regex_needles(p) else { continue };
            match needles[0] {
                Needle::Text(_) => literal += 1,
                Needle::Pattern(_) => whole += 1,
            }
            let hint = balsa_model::LineHint::of([needles]);
            for _ in 0..3000 {
                let len = rng.random_range(0..8);
                let line: String = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
                if !re.is_match(&line) {
                    continue;
                }
                assert!(hint.may_contain(line.as_bytes()), "{p} matches {line:?} but the hint rules it out");
                // Framing around the line: any bytes, not always UTF-8.
                let mut block: Vec<u8> = (0..rng.random_range(0..4)).map(|_| rng.random::<u8>()).collect();
                block.extend_from_slice(line.as_bytes());
                block.extend((0..rng.random_range(0..4)).map(|_| rng.random::<u8>()));
                assert!(hint.may_contain(&block), "{p} matches {line:?} but the hint rules out {block:?}");
            }
        }
        assert!(literal >= 12, "most of these patterns have literals ({literal})");
        assert!(whole >= 3, "(?i) and unbounded prefixes search with the regex ({whole})");
        for p in [r"(?i)\bneedle", "(?i)needle$", "^.*ab", "a*", "b?"] {
            assert!(regex_needles(p).is_none(), "{p} looks around its match or may match nothing");
        }
    }

    #[test]
    fn case_insensitive_regex_hint_rules_out_blocks_without_a_match() {
        let Some(needles) = regex_needles("(?i)needle") else { panic!("(?i)needle gives a hint") };
        let hint = balsa_model::LineHint::of([needles]);
        assert!(hint.may_contain(b"\x05\x10a NeEdLe here\x07"));
        assert!(!hint.may_contain(b"\x05\x10a needl e here\x07nee"));
    }
}
