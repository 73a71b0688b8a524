//! Loki's parser hints (`pkg/logql/log/parser_hints.go`, `NewParserHint`):
//! which labels a query needs, so parsers extract only those, or nothing.
//!
//! - A log query extracts every label, and its single-label filters run as
//!   soon as a parser sets their label (`ShouldContinueParsingLine`).
//! - A metric query computes the *required* labels: those its stages read
//!   (label filters, `line_format` and `label_format` template fields and
//!   renamed labels; not `drop`/`keep`), its unwrap label and post filters,
//!   and its grouping labels. Then:
//!   - no labels (a singleton grouping, `sum(...)` pushed down, `by ()`, or
//!     `absent_over_time`) and nothing required: parsers other than `regexp`
//!     do not run at all, so no `__error__` arises;
//!   - no labels but some required: only those are extracted, and the
//!     filters run early as in a log query;
//!   - `without`, or no grouping: every label, filters early;
//!   - `by (...)`: only the required labels, no early filters.
//!
//!   Required labels also end parsing once all are extracted.
//!
//! `__error__` among the required labels makes parser errors results
//! (`__preserve_error__`) instead of failing the query.

use balsa_logql::label_regex::{LabelRegex, simplify_label_regex};
use balsa_logql::{LabelFilter, LabelFmt, MatchOp, Stage, Unwrap};

use super::LabelPredicate;
use super::labels::{ERROR_LABEL, EarlyFilters, Hints, append_label_hints};
use crate::error::QueryError;

/// A `=~` filter Loki turns into a no-op (`NoopLabelFilter`: the regex
/// matches everything): it is no stage, needs no label and is no filter.
fn is_noop(f: &LabelFilter) -> bool {
    matches!(f, LabelFilter::Matcher(m) if m.op == MatchOp::Re
        && simplify_label_regex(&m.value) == Some(LabelRegex::True))
}

/// The labels a label filter reads (`RequiredLabelNames`): a filter that
/// matches everything reads none.
fn filter_names(f: &LabelFilter, out: &mut Vec<String>) {
    super::filter_names_but(f, &is_noop, out);
}

/// The labels the stages read (Loki's `RequiredLabelNames` of the reduced
/// stages): label filters, the fields of `line_format` and `label_format`
/// templates and the sources of `label_format` renames.
pub(crate) fn required_names(stages: &[&Stage]) -> Vec<String> {
    let mut out = Vec::new();
    for stage in stages {
        match stage {
            Stage::LabelFilter(f) => filter_names(f, &mut out),
            Stage::LineFormat(t) => out.extend(template_fields(t)),
            Stage::LabelFormat(fmts) => {
                for f in fmts {
                    match f {
                        LabelFmt::Rename { src, .. } => out.push(src.clone()),
                        LabelFmt::Template { template, .. } => out.extend(template_fields(template)),
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The filters that run as soon as a parser sets their label: label filter
/// stages on one label (not `and`/`or`), and a single unwrap post filter.
pub(crate) fn single_label_filters<'a>(
    stages: &[&Stage],
    post: impl IntoIterator<Item = &'a LabelFilter>,
) -> Result<Vec<(String, LabelPredicate)>, QueryError> {
    let mut out = Vec::new();
    let post: Vec<&LabelFilter> = post.into_iter().collect();
    let post = if post.len() == 1 { post } else { Vec::new() };
    let filters = stages.iter().filter_map(|s| match s {
        Stage::LabelFilter(f) => Some(f),
        _ => None,
    });
    for f in filters.chain(post) {
        if is_noop(f) || matches!(f, LabelFilter::And(..) | LabelFilter::Or(..)) {
            continue;
        }
        let mut names = Vec::new();
        filter_names(f, &mut names);
        if let [name] = names.as_slice() {
            out.push((name.clone(), LabelPredicate::compile(f)?));
        }
    }
    Ok(out)
}

/// A log query's hints: every label, the filters early.
pub(crate) fn log_hints(filters: &Option<EarlyFilters>) -> Hints {
    Hints { filters: filters.clone(), ..Hints::default() }
}

/// A metric query's hints (`NewParserHint` as `NewLineSampleExtractor` and
/// `LabelExtractorWithStages` call it). `stage_names` are the stages'
/// [`required_names`], `filters` their [`single_label_filters`] (without
/// the unwrap post filter; it is added here); `groups` the grouping labels
/// (`by`), `without` for `without`, `no_labels` for a singleton grouping or
/// `absent_over_time`.
pub(crate) fn metric_hints(
    stage_names: &[String],
    stage_filters: &[&Stage],
    groups: &[String],
    without: bool,
    no_labels: bool,
    unwrap: Option<&Unwrap>,
) -> Result<Hints, QueryError> {
    let mut required: Vec<&str> = stage_names.iter().map(String::as_str).collect();
    let mut post_names = Vec::new();
    let mut groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let mut without = without;
    if let Some(u) = unwrap {
        for f in &u.post_filters {
            filter_names(f, &mut post_names);
        }
        required.extend(post_names.iter().map(String::as_str));
        if groups.is_empty() || without {
            without = true;
            groups.push(&u.label);
        }
    }
    let mut names = Vec::new();
    append_label_hints(&mut names, required);
    append_label_hints(&mut names, groups.iter().copied());
    append_label_hints(&mut names, unwrap.map(|u| u.label.as_str()));
    let filters = || -> Result<Option<EarlyFilters>, QueryError> {
        let f = single_label_filters(stage_filters, unwrap.into_iter().flat_map(|u| u.post_filters.iter()))?;
        Ok((!f.is_empty()).then(|| f.into()))
    };
    let preserve_error = names.iter().any(|n| n == ERROR_LABEL);
    Ok(if no_labels {
        if names.is_empty() {
            Hints { no_labels: true, ..Hints::default() }
        } else {
            Hints { names: Some(names.into()), required: true, preserve_error, filters: filters()?, no_labels: false }
        }
    } else if without || groups.is_empty() {
        Hints { filters: filters()?, ..Hints::default() }
    } else {
        Hints { names: Some(names.into()), required: true, preserve_error, ..Hints::default() }
    })
}

/// The labels a Go template names as fields, as Loki's `listNodeFields`
/// finds them: `.a` and `.a.b` (both names) in actions and in the pipelines
/// of `if`/`range`/`with` (and their `else`), also inside parentheses; not
/// fields of variables (`$x.a`), of function results or parenthesised
/// pipelines (`(f .a).b`: nothing in it), nor anything in `template`,
/// `define` or `block`. The template is known to parse.
pub(crate) fn template_fields(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Open control blocks: whether each is a `define`/`block` body.
    let mut blocks: Vec<bool> = Vec::new();
    let mut rest = src;
    while let Some(p) = rest.find("{{") {
        let mut a = &rest[p + 2..];
        if let Some(t) = a.strip_prefix('-')
            && t.starts_with(is_space)
        {
            a = t;
        }
        a = a.trim_start_matches(is_space);
        if let Some(c) = a.strip_prefix("/*") {
            // A comment: up to `*/`, then the right delimiter.
            let Some(e) = c.find("*/") else { break };
            let c = &c[e + 2..];
            rest = c.find("}}").map_or("", |e| &c[e + 2..]);
            continue;
        }
        let (toks, after) = action_tokens(a);
        rest = after;
        let hidden = blocks.iter().any(|&b| b);
        let keyword = match toks.first() {
            Some(Tok { kind: Kind::Ident(w), .. }) => w.as_str(),
            _ => "",
        };
        match keyword {
            "end" => {
                blocks.pop();
            }
            "define" | "block" => blocks.push(true),
            "template" | "break" | "continue" => {}
            "if" | "range" | "with" => {
                blocks.push(false);
                if !hidden {
                    pipeline_fields(&toks[1..], &mut out);
                }
            }
            "else" if !hidden => pipeline_fields(&toks[1..], &mut out),
            "else" => {}
            _ if !hidden => pipeline_fields(&toks, &mut out),
            _ => {}
        }
    }
    let mut unique: Vec<String> = Vec::with_capacity(out.len());
    for n in out {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    unique
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

#[derive(Debug, PartialEq)]
enum Kind {
    Field(String),
    /// A variable or a function name (a field right after one is a chain).
    Ident(String),
    Var,
    LParen,
    RParen,
    Other,
}

struct Tok {
    kind: Kind,
    /// White space came right before it.
    spaced: bool,
}

/// The tokens of one action (after `{{` and its trim marker) and the text
/// after its right delimiter.
fn action_tokens(mut s: &str) -> (Vec<Tok>, &str) {
    let mut toks = Vec::new();
    let mut spaced = false;
    loop {
        let t = s.trim_start_matches(is_space);
        if t.len() != s.len() {
            spaced = true;
            s = t;
            if let Some(r) = s.strip_prefix("-}}") {
                return (toks, r);
            }
        }
        if let Some(r) = s.strip_prefix("}}") {
            return (toks, r);
        }
        let Some(c) = s.chars().next() else { return (toks, s) };
        let (kind, len) = match c {
            '"' | '\'' => {
                let mut end = s.len();
                let mut esc = false;
                for (i, ch) in s.char_indices().skip(1) {
                    if esc {
                        esc = false;
                    } else if ch == '\\' {
                        esc = true;
                    } else if ch == c {
                        end = i + 1;
                        break;
                    }
                }
                (Kind::Other, end)
            }
            '`' => (Kind::Other, s[1..].find('`').map_or(s.len(), |e| e + 2)),
            '$' => (Kind::Var, 1 + word_len(&s[1..])),
            '.' if s[1..].starts_with(|c: char| c.is_ascii_digit()) => (Kind::Other, 1 + number_len(&s[1..])),
            '.' => {
                let n = word_len(&s[1..]);
                if n == 0 { (Kind::Other, 1) } else { (Kind::Field(s[1..1 + n].to_string()), 1 + n) }
            }
            '(' => (Kind::LParen, 1),
            ')' => (Kind::RParen, 1),
            c if c.is_ascii_digit() || c == '+' || c == '-' => (Kind::Other, 1 + number_len(&s[1..])),
            c if is_alnum(c) => {
                let n = word_len(s);
                (Kind::Ident(s[..n].to_string()), n)
            }
            c => (Kind::Other, c.len_utf8()),
        };
        toks.push(Tok { kind, spaced });
        spaced = false;
        s = &s[len.min(s.len())..];
    }
}

fn word_len(s: &str) -> usize {
    s.find(|c: char| !is_alnum(c)).unwrap_or(s.len())
}

fn number_len(s: &str) -> usize {
    s.find(|c: char| !(is_alnum(c) || c == '.')).unwrap_or(s.len())
}

/// The listed fields of a pipeline's tokens (see [`template_fields`]).
fn pipeline_fields(toks: &[Tok], out: &mut Vec<String>) {
    #[derive(PartialEq)]
    enum Prev {
        Other,
        /// A listed field: an adjacent field continues it (`.a.b`).
        Listed,
        /// A variable, a function name, `)` or a field of those: an adjacent
        /// field is part of a chain, not listed.
        Chain,
    }
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    let mut closed: Option<Vec<String>> = None;
    let mut prev = Prev::Other;
    for t in toks {
        let adjacent = !t.spaced;
        if let Some(fields) = closed.take()
            && !(adjacent && matches!(t.kind, Kind::Field(_)))
            && let Some(g) = groups.last_mut()
        {
            g.extend(fields);
        }
        prev = match &t.kind {
            Kind::Field(_) if adjacent && prev == Prev::Chain => Prev::Chain,
            Kind::Field(name) => {
                if let Some(g) = groups.last_mut() {
                    g.push(name.clone());
                }
                Prev::Listed
            }
            Kind::Ident(_) | Kind::Var => Prev::Chain,
            Kind::LParen => {
                groups.push(Vec::new());
                Prev::Other
            }
            Kind::RParen => {
                if groups.len() > 1 {
                    closed = groups.pop();
                }
                Prev::Chain
            }
            Kind::Other => Prev::Other,
        };
    }
    if let Some(fields) = closed
        && let Some(g) = groups.last_mut()
    {
        g.extend(fields);
    }
    for g in groups {
        out.extend(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fields_as_loki_lists_them() {
        let f = |s: &str| template_fields(s).join(",");
        assert_eq!(f("{{.a}} {{ .b.c }} {{- .a -}}"), "a,b,c");
        assert_eq!(f("{{ __line__ }} x {{ ToUpper .msg | trunc 3 }}"), "msg");
        assert_eq!(
            f(r#"{{ if eq .status "500" }}{{ .x }}{{ else if .y }}z{{ else }}{{ .w }}{{ end }}"#),
            "status,x,y,w"
        );
        assert_eq!(f("{{ range $k, $v := .m }}{{ $v.a }}{{ $.b }}{{ end }}"), "m");
        assert_eq!(f("{{ with .a }}{{ . }}{{ end }}"), "a");
        assert_eq!(f("{{ (ToUpper .a) }} {{ (ToUpper .b).c }} {{ ((.d)).e }}"), "a");
        assert_eq!(f(r#"{{ printf "{{.s}}" .t }} {{/* .c */}} {{- /* .c */ -}}"#), "t");
        assert_eq!(
            f(r#"{{ define "x" }}{{ .d }}{{ end }}{{ template "x" .e }}{{ block "y" .f }}{{ .g }}{{ end }}{{ .h }}"#),
            "h"
        );
        assert_eq!(f("{{ index . \"a\" }} {{ $x := .p }}{{ $x }} {{ .5 }} {{ -1 }}"), "p");
        assert_eq!(f("{{ fromJson .j | len }}"), "j");
    }
}
