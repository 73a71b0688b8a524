//! `| regexp "<re>"` and `| pattern "<pattern>"`: labels from named
//! captures (`pkg/logql/log/parser.go`, `pkg/logql/log/pattern`).

use balsa_logql::pattern::{PatternNode, parse_pattern};
use memchr::memmem;
use regex::{CaptureLocations, Regex};

use super::labels::{DUPLICATE_SUFFIX, LabelSet, append_sanitized};

/// Reused buffers of the regexp and pattern stages.
#[derive(Default)]
pub(crate) struct ExtractScratch {
    name: String,
    locs: Option<CaptureLocations>,
}

/// `| regexp`: the first match's named groups; a group that did not take
/// part sets an empty label, no match sets nothing.
pub(crate) struct RegexpParser {
    re: Regex,
    /// (group index, sanitized name)
    names: Vec<(usize, String)>,
}

impl RegexpParser {
    pub(crate) fn compile(re: &str) -> Result<Self, String> {
        let re = Regex::new(re).map_err(|e| balsa_logql::matcher::regex_error(&e, re))?;
        let mut names = Vec::new();
        for (i, n) in re.capture_names().enumerate() {
            let Some(n) = n else { continue };
            let mut s = String::new();
            append_sanitized(&mut s, n);
            if names.iter().any(|(_, m)| *m == s) {
                return Err(format!("duplicate extracted label name '{n}'"));
            }
            if !s.is_empty() {
                names.push((i, s));
            }
        }
        if names.is_empty() {
            return Err("at least one named capture must be supplied".into());
        }
        Ok(Self { re, names })
    }

    /// Returns `false` when the entry is dropped (a label filter failed
    /// while parsing, see [`LabelSet::should_continue`]). Unlike the other
    /// parsers, Loki's `RegexpParser` runs even when no label is needed.
    pub(crate) fn process(&self, line: &str, labels: &mut LabelSet, sc: &mut ExtractScratch) -> bool {
        let locs = sc.locs.get_or_insert_with(|| self.re.capture_locations());
        if locs.len() != self.re.captures_len() {
            *locs = self.re.capture_locations();
        }
        if self.re.captures_read(locs, line).is_none() {
            return true;
        }
        for (i, n) in &self.names {
            sc.name.clear();
            sc.name.push_str(n);
            if labels.collides(n) {
                sc.name.push_str(DUPLICATE_SUFFIX);
            }
            if !labels.should_extract(&sc.name) {
                continue;
            }
            let v = locs.get(*i).and_then(|(a, b)| line.get(a..b)).unwrap_or("");
            labels.set_parsed(&sc.name, v);
            if !labels.should_continue(&sc.name) {
                return false;
            }
        }
        true
    }
}

enum Node {
    Literal(String, Box<memmem::Finder<'static>>),
    /// `None` for `<_>`.
    Capture(Option<String>),
}

/// `| pattern`: anchored at the start; each capture runs to the next
/// literal (or the end); a missing literal ends matching, the capture
/// taking the rest of the line.
pub(crate) struct PatternParser {
    nodes: Vec<Node>,
}

impl PatternParser {
    pub(crate) fn compile(p: &str) -> Self {
        let nodes = parse_pattern(p)
            .into_iter()
            .map(|n| match n {
                PatternNode::Literal(l) => {
                    let f = Box::new(memmem::Finder::new(l.as_bytes()).into_owned());
                    Node::Literal(l, f)
                }
                PatternNode::Capture(c) => Node::Capture((c != "_").then_some(c)),
            })
            .collect();
        Self { nodes }
    }

    /// Returns `false` when the entry is dropped (a label filter failed
    /// while parsing, see [`LabelSet::should_continue`]); does nothing when
    /// no label is needed (Loki's `NoLabels()`).
    pub(crate) fn process(&self, line: &str, labels: &mut LabelSet, sc: &mut ExtractScratch) -> bool {
        if labels.no_labels() {
            return true;
        }
        let mut keep = true;
        self.matches(line, |name, value| {
            if !keep {
                return;
            }
            sc.name.clear();
            sc.name.push_str(name);
            if labels.collides(name) {
                sc.name.push_str(DUPLICATE_SUFFIX);
            }
            if labels.should_extract(&sc.name) {
                labels.set_parsed(&sc.name, value);
                keep = labels.should_continue(&sc.name);
            }
        });
        keep
    }

    fn matches<'a>(&'a self, line: &'a str, mut emit: impl FnMut(&'a str, &'a str)) {
        if line.is_empty() || self.nodes.is_empty() {
            return;
        }
        let mut rest = line;
        let mut nodes = &self.nodes[..];
        if let Node::Literal(l, _) = &nodes[0] {
            if !rest.starts_with(l.as_str()) {
                return;
            }
            rest = &rest[l.len()..];
            nodes = &nodes[1..];
        }
        while let Some(Node::Capture(name)) = nodes.first() {
            let Some(Node::Literal(l, finder)) = nodes.get(1) else {
                if let Some(n) = name {
                    emit(n, rest);
                }
                return;
            };
            nodes = &nodes[2..];
            match finder.find(rest.as_bytes()) {
                None => {
                    if let Some(n) = name {
                        emit(n, rest);
                    }
                    return;
                }
                Some(i) => {
                    if let Some(n) = name {
                        emit(n, rest.get(..i).unwrap_or(""));
                    }
                    rest = rest.get(i + l.len()..).unwrap_or("");
                }
            }
        }
    }
}
