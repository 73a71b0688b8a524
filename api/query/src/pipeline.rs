//! Compiles the pipeline of a log query into matchers run against each
//! entry next to the data. Supported: line filters (all six operators,
//! `or`, `ip()`), string label filters over stream labels and structured
//! metadata, and the no-op `| drop __error__, __error_details__`.

use balsa_logql::matcher::regex_error;
use balsa_logql::pattern::{PatternNode, parse_pattern, validate_filter_pattern};
use balsa_logql::{LabelFilter, LineFilter, LineFilterOp, Matcher, NamedMatcher, Stage};
use balsa_model::{Entry, Labels};
use memchr::memmem;
use regex::Regex;

use crate::error::QueryError;
use crate::ip::IpMatcher;

const ERROR_LABELS: [&str; 2] = ["__error__", "__error_details__"];

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

struct LineMatcher {
    negate: bool,
    alts: Vec<Alt>,
}

enum LabelCheck {
    Matcher(Matcher),
    And(Box<LabelCheck>, Box<LabelCheck>),
    Or(Box<LabelCheck>, Box<LabelCheck>),
}

impl LabelCheck {
    fn matches(&self, labels: &Labels, entry: &Entry) -> bool {
        match self {
            LabelCheck::Matcher(m) => m.matches(label_value(&m.name, labels, entry)),
            LabelCheck::And(a, b) => a.matches(labels, entry) && b.matches(labels, entry),
            LabelCheck::Or(a, b) => a.matches(labels, entry) || b.matches(labels, entry),
        }
    }
}

/// The value a label filter sees: stream label, then structured metadata;
/// `""` when absent (and always for `__error__`, as no parser runs).
fn label_value<'a>(name: &str, labels: &'a Labels, entry: &'a Entry) -> &'a str {
    if ERROR_LABELS.contains(&name) {
        return "";
    }
    labels
        .get(name)
        .or_else(|| entry.structured_metadata.iter().find(|p| p.name == name).map(|p| p.value.as_str()))
        .unwrap_or("")
}

enum Step {
    Line(LineMatcher),
    Label(LabelCheck),
}

/// A compiled log pipeline.
pub(crate) struct Pipeline {
    steps: Vec<Step>,
}

impl Pipeline {
    pub(crate) fn compile(stages: &[Stage]) -> Result<Self, QueryError> {
        let mut steps = Vec::new();
        for stage in stages {
            match stage {
                Stage::LineFilter(f) => steps.push(Step::Line(compile_line_filter(f, stage)?)),
                Stage::LabelFilter(f) => steps.push(Step::Label(compile_label_filter(f)?)),
                Stage::Drop(items)
                    if items.iter().all(|n| match n {
                        NamedMatcher::Name(name) => ERROR_LABELS.contains(&name.as_str()),
                        NamedMatcher::Matcher(m) => ERROR_LABELS.contains(&m.name.as_str()),
                    }) => {}
                _ => return Err(QueryError::unsupported(format!("pipeline stage '{stage}'"))),
            }
        }
        Ok(Self { steps })
    }

    #[cfg(test)]
    pub(crate) fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether the entry of a stream with `labels` passes every stage.
    pub(crate) fn matches(&self, labels: &Labels, entry: &Entry) -> bool {
        self.steps.iter().all(|s| match s {
            Step::Line(m) => m.alts.iter().any(|a| a.matches(&entry.line)) != m.negate,
            Step::Label(c) => c.matches(labels, entry),
        })
    }
}

fn stage_error(stage: &Stage, err: impl std::fmt::Display) -> QueryError {
    QueryError::BadQuery(format!("parse error : stage '{stage}' : {err}"))
}

fn compile_line_filter(f: &LineFilter, stage: &Stage) -> Result<LineMatcher, QueryError> {
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
    Ok(LineMatcher { negate: f.op.is_negative(), alts })
}

fn compile_label_filter(f: &LabelFilter) -> Result<LabelCheck, QueryError> {
    Ok(match f {
        LabelFilter::Matcher(m) => LabelCheck::Matcher(m.clone()),
        LabelFilter::And(a, b) => {
            LabelCheck::And(Box::new(compile_label_filter(a)?), Box::new(compile_label_filter(b)?))
        }
        LabelFilter::Or(a, b) => LabelCheck::Or(Box::new(compile_label_filter(a)?), Box::new(compile_label_filter(b)?)),
        other => {
            return Err(QueryError::unsupported(format!(
                "label filter '{other}' (only string label filters are executed)"
            )));
        }
    })
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
    use super::*;

    fn passes(q: &str, line: &str) -> bool {
        let e = balsa_logql::parse_log_expr(q).unwrap();
        let p = Pipeline::compile(&e.stages).unwrap();
        p.matches(&Labels::from_pairs([("app", "x")]), &Entry::new(0, line))
    }

    #[test]
    fn line_filters() {
        assert!(passes(r#"{app="x"} |= "foo""#, "a foo b"));
        assert!(!passes(r#"{app="x"} |= "foo""#, "a fo b"));
        assert!(passes(r#"{app="x"} != "foo""#, "bar"));
        assert!(passes(r#"{app="x"} |~ "(?i)ERROR""#, "an error"));
        assert!(!passes(r#"{app="x"} !~ "err.r""#, "an error"));
        assert!(passes(r#"{app="x"} |= "foo" or "bar""#, "bar"));
        assert!(!passes(r#"{app="x"} != "foo" or "bar""#, "bar"));
        assert!(passes(r#"{app="x"} != "foo" or "bar""#, "baz"));
        assert!(passes(r#"{app="x"} |= "foo" |= "bar""#, "foobar"));
        assert!(!passes(r#"{app="x"} |= "foo" |= "bar""#, "foo"));
        assert!(passes(r#"{app="x"} |> "<_> bar <_>""#, "foo bar baz"));
        assert!(!passes(r#"{app="x"} |> "<_> bar""#, "foo bar baz"));
        assert!(passes(r#"{app="x"} |> "<_> baz""#, "foo bar baz"));
        assert!(passes(r#"{app="x"} !> "<_> bar""#, "foo bar baz"));
        assert!(passes(r#"{app="x"} |= ip("10.0.0.0/8")"#, "client 10.1.2.3 connected"));
        assert!(!passes(r#"{app="x"} |= ip("10.0.0.0/8")"#, "client 11.1.2.3 connected"));
        assert!(passes(r#"{app="x"} | app="x" | __error__="""#, "anything"));
        assert!(!passes(r#"{app="x"} | app="y" or app=~"z.*""#, "anything"));
    }

    #[test]
    fn compile_errors() {
        let stages = |q: &str| balsa_logql::parse_log_expr(q).unwrap().stages;
        let err = Pipeline::compile(&stages(r#"{a="b"} |~ "(""#)).err().unwrap();
        assert!(err.message().starts_with("parse error : stage '|~ \"(\"' : error parsing regexp:"), "{err}");
        assert_eq!(err.http_status(), 400);
        let err = Pipeline::compile(&stages(r#"{a="b"} | json"#)).err().unwrap();
        assert_eq!(err, QueryError::Unsupported("not supported yet: pipeline stage '| json'".into()));
        assert!(Pipeline::compile(&stages(r#"{a="b"} |> "<a> x""#)).is_err());
        assert!(Pipeline::compile(&stages(r#"{a="b"} |~ ip("1.2.3.4")"#)).is_err());
        assert!(Pipeline::compile(&stages(r#"{a="b"} | drop __error__, __error_details__"#)).unwrap().is_noop());
    }
}
