//! The LogQL log pipeline, run next to the data: Loki 3's stages
//! (`pkg/logql/log`) over one entry at a time.
//!
//! - line filters ([`line_filter`]) on the current line;
//! - parsers: `json` ([`json`]), `logfmt` ([`logfmt`]), `regexp` and
//!   `pattern` ([`extract`]), `unpack`;
//! - label filters ([`label_filter`]): strings, numbers, durations, bytes,
//!   `ip()`, `and` / `or`;
//! - `line_format`, `label_format` and `decolorize` ([`format`]);
//! - `drop` and `keep`.
//!
//! Labels live in a [`LabelSet`] (Loki's `LabelsBuilder`): stream labels,
//! the entry's structured metadata and parsed labels, with Loki's
//! precedence, deletions and `__error__`. Parse errors never drop a line:
//! they set `__error__` (`JSONParserErr`, `LogfmtParserErr`,
//! `LabelFilterErr`, `TemplateFormatErr`) and `__error_details__`.
//!
//! Parsers follow Loki's parser hints ([`hints`]): a metric query makes
//! them extract only the labels it needs, or nothing at all, and a
//! single-label filter drops an entry as soon as a parser sets its label.
//!
//! A [`Pipeline`] is compiled once per query; [`Pipeline::for_stream`] makes
//! a [`StreamPipeline`] per stream, whose buffers are reused for every
//! entry. Stages run in Loki's order ([`loki_order`]: line filters move
//! forward past stages that keep the line). Leading line filters run before
//! any label work, so a pipeline of line filters only does no per-entry
//! allocation.

mod extract;
mod format;
mod hints;
mod json;
mod label_filter;
mod labels;
mod line_filter;
mod logfmt;
mod scan;

#[cfg(test)]
mod loki_corpus;
#[cfg(test)]
mod tests;

use balsa_logql::{NamedMatcher, Stage};
use balsa_model::{Entry, Labels, LineHint};

use crate::error::QueryError;
pub(crate) use json::label_paths;
pub(crate) use label_filter::LabelPredicate;
use labels::{ERROR_DETAILS_LABEL, ERROR_LABEL, Hints, Pairs};
pub(crate) use labels::{LabelSet, PRESERVE_ERROR_LABEL};
use line_filter::{LineMatcher, stage_error};

enum Step {
    Line(LineMatcher),
    Label(LabelPredicate),
    Json,
    JsonExprs(json::JsonExprs),
    Logfmt(logfmt::Logfmt),
    LogfmtExprs(logfmt::LogfmtExprs),
    Regexp(extract::RegexpParser),
    Pattern(extract::PatternParser),
    Unpack,
    LineFormat(format::LineFormat),
    LabelFormat(format::LabelFormat),
    Decolorize,
    Drop(Vec<NamedMatcher>),
    Keep(Vec<NamedMatcher>),
}

impl Step {
    /// Whether the step skips labels that earlier stages extracted.
    fn checks_extracted(&self) -> bool {
        matches!(
            self,
            Step::Json | Step::Logfmt(_) | Step::LogfmtExprs(_) | Step::Regexp(_) | Step::Pattern(_) | Step::Unpack
        )
    }
}

/// A compiled log pipeline.
pub(crate) struct Pipeline {
    steps: Vec<Step>,
    /// Per step: whether it or a later step checks what was extracted before.
    record_extracted: Vec<bool>,
    /// How many leading steps are line filters.
    leading_filters: usize,
    /// Loki's parser hints (see [`hints`]).
    hints: Hints,
    /// The labels the stages read (see [`hints::required_names`]).
    required: Vec<String>,
    prefilter: Option<Prefilter>,
}

/// `| json | <label filters>` as the first parsing stage: most lines fail
/// the filters, so they are first tried on a parse that extracts only the
/// labels the filters read (as parser hints do). A line that fails without
/// an error is dropped; any other line takes the full path, so results are
/// the same as without the shortcut.
struct Prefilter {
    /// The label filter steps right after the parser.
    filters: std::ops::Range<usize>,
    /// The filters' labels (only these are extracted, with no early stop).
    hints: Hints,
}

/// The labels a label filter reads.
pub(crate) fn filter_names(f: &balsa_logql::LabelFilter, out: &mut Vec<String>) {
    filter_names_but(f, &|_| false, out);
}

/// The labels a label filter reads, leaving out the parts `skip` names
/// (at any depth of `and`/`or`).
pub(crate) fn filter_names_but(
    f: &balsa_logql::LabelFilter,
    skip: &dyn Fn(&balsa_logql::LabelFilter) -> bool,
    out: &mut Vec<String>,
) {
    use balsa_logql::LabelFilter;
    match f {
        _ if skip(f) => {}
        LabelFilter::Matcher(m) => out.push(m.name.clone()),
        LabelFilter::Ip { name, .. }
        | LabelFilter::Number { name, .. }
        | LabelFilter::Duration { name, .. }
        | LabelFilter::Bytes { name, .. } => out.push(name.clone()),
        LabelFilter::And(a, b) | LabelFilter::Or(a, b) => {
            filter_names_but(a, skip, out);
            filter_names_but(b, skip, out);
        }
    }
}

fn prefilter(stages: &[&Stage], steps: &[Step], leading: usize) -> Option<Prefilter> {
    if !matches!(steps.get(leading), Some(Step::Json)) {
        return None;
    }
    let mut names = Vec::new();
    let mut end = leading + 1;
    while let Some(Stage::LabelFilter(f)) = stages.get(end).copied() {
        filter_names(f, &mut names);
        end += 1;
    }
    if end == leading + 1 || names.iter().any(|n| n == ERROR_LABEL || n == ERROR_DETAILS_LABEL) {
        return None;
    }
    let mut hint_names = Vec::new();
    labels::append_label_hints(&mut hint_names, names.iter().map(String::as_str));
    Some(Prefilter { filters: leading + 1..end, hints: Hints { names: Some(hint_names.into()), ..Hints::default() } })
}

/// The stages in the order Loki runs them (`MultiStageExpr.reorderStages`,
/// `pkg/logql/syntax/ast.go`): line filters move in front of the stages
/// before them, up to the nearest label filter, `line_format` or `unpack`
/// (stages that rewrite the line or drop on labels). So `| decolorize |= "x"`
/// filters the stored (coloured) line, as in Loki. Line filters keep their
/// order among themselves; the printed query keeps the written order.
pub(crate) fn loki_order(stages: &[Stage]) -> Vec<&Stage> {
    let mut result = Vec::with_capacity(stages.len());
    let mut line_filters = Vec::new();
    let mut others = Vec::new();
    fn flush<'a>(result: &mut Vec<&'a Stage>, line_filters: &mut Vec<&'a Stage>, others: &mut Vec<&'a Stage>) {
        result.append(line_filters);
        result.append(others);
    }
    for stage in stages {
        match stage {
            Stage::LabelFilter(_) => {
                flush(&mut result, &mut line_filters, &mut others);
                result.push(stage);
            }
            Stage::LineFilter(_) => line_filters.push(stage),
            Stage::LineFormat(_) | Stage::Unpack => {
                others.push(stage);
                flush(&mut result, &mut line_filters, &mut others);
            }
            _ => others.push(stage),
        }
    }
    flush(&mut result, &mut line_filters, &mut others);
    result
}

impl Pipeline {
    pub(crate) fn compile(stages: &[Stage]) -> Result<Pipeline, QueryError> {
        let stages = &loki_order(stages)[..];
        let mut steps = Vec::with_capacity(stages.len());
        for stage in stages {
            let err = |e: String| stage_error(stage, e);
            steps.push(match stage {
                Stage::LineFilter(f) => Step::Line(LineMatcher::compile(f, stage)?),
                Stage::LabelFilter(f) => Step::Label(LabelPredicate::compile(f)?),
                Stage::Json { params } if params.is_empty() => Step::Json,
                Stage::Json { params } => Step::JsonExprs(json::JsonExprs::compile(params).map_err(err)?),
                Stage::Logfmt { strict, keep_empty, params } if params.is_empty() => {
                    Step::Logfmt(logfmt::Logfmt { strict: *strict, keep_empty: *keep_empty })
                }
                Stage::Logfmt { strict, params, .. } => {
                    Step::LogfmtExprs(logfmt::LogfmtExprs::compile(*strict, params).map_err(err)?)
                }
                Stage::Regexp(re) => Step::Regexp(extract::RegexpParser::compile(re).map_err(err)?),
                Stage::Pattern(p) => Step::Pattern(extract::PatternParser::compile(p)),
                Stage::Unpack => Step::Unpack,
                Stage::LineFormat(t) => Step::LineFormat(format::LineFormat::compile(t).map_err(err)?),
                Stage::LabelFormat(f) => Step::LabelFormat(format::LabelFormat::compile(f).map_err(err)?),
                Stage::Decolorize => Step::Decolorize,
                Stage::Drop(items) => Step::Drop(items.clone()),
                Stage::Keep(items) => Step::Keep(items.clone()),
            });
        }
        let leading_filters = steps.iter().take_while(|s| matches!(s, Step::Line(_))).count();
        // A parser checks what it extracted itself too (the first value of a
        // repeated key wins), so parsers record as well as the stages before them.
        let record_extracted = (0..steps.len()).map(|i| steps[i..].iter().any(Step::checks_extracted)).collect();
        let prefilter = prefilter(stages, &steps, leading_filters);
        let early = hints::single_label_filters(stages, [])?;
        let early_filters: Option<labels::EarlyFilters> = (!early.is_empty()).then(|| early.into());
        Ok(Pipeline {
            steps,
            record_extracted,
            leading_filters,
            hints: hints::log_hints(&early_filters),
            required: hints::required_names(stages),
            prefilter,
        })
    }

    /// Loki's parser hints for a metric query (see [`hints`]): `groups` of a
    /// `by` grouping, `without`, `no_labels` for a singleton grouping or
    /// `absent_over_time`, and the unwrap (its label and post filters).
    pub(crate) fn with_metric_hints(
        mut self,
        stages: &[Stage],
        groups: &[String],
        without: bool,
        no_labels: bool,
        unwrap: Option<&balsa_logql::Unwrap>,
    ) -> Result<Self, QueryError> {
        let stages = loki_order(stages);
        self.hints = hints::metric_hints(&self.required, &stages, groups, without, no_labels, unwrap)?;
        if self.hints.no_labels {
            // `| json` does not parse at all: no filter can be tried on it.
            self.prefilter = None;
        }
        // `| json a="b"` checks what earlier stages extracted against the
        // required labels too (`NoLabels()`).
        if self.hints.required {
            let last = self.steps.iter().rposition(|s| s.checks_extracted() || matches!(s, Step::JsonExprs(_)));
            for (i, r) in self.record_extracted.iter_mut().enumerate() {
                *r = *r || last.is_some_and(|l| i <= l);
            }
        }
        Ok(self)
    }

    /// What storage may skip on: the text the positive line filters need
    /// (see `LineMatcher::required`) among the stages before any that
    /// rewrites the line (later ones see another line). Every stage can only
    /// drop a line, so each of them must pass for a line to come out.
    pub(crate) fn line_hint(&self) -> LineHint {
        let on_stored_line =
            self.steps.iter().take_while(|s| !matches!(s, Step::LineFormat(_) | Step::Decolorize | Step::Unpack));
        LineHint::of(on_stored_line.filter_map(|s| match s {
            Step::Line(m) => m.required(),
            _ => None,
        }))
    }

    /// A pipeline for one stream (labels are copied once).
    pub(crate) fn for_stream(&self, labels: &Labels) -> StreamPipeline<'_> {
        let mut label_set = LabelSet::new(labels);
        label_set.set_hints(self.hints.clone());
        StreamPipeline {
            pipeline: self,
            labels: label_set,
            line: String::new(),
            next: String::new(),
            sc: Scratch::default(),
            #[cfg(test)]
            preset_error: None,
        }
    }

    /// Whether the pipeline has no stages.
    #[allow(dead_code)] // part of the interface the metric engine uses
    pub(crate) fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Reused buffers of all stages.
#[derive(Default)]
struct Scratch {
    json: json::JsonScratch,
    logfmt: logfmt::LogfmtScratch,
    extract: extract::ExtractScratch,
    format: format::FormatScratch,
    pairs: Pairs,
}

/// A pipeline bound to one stream; reuses its buffers across entries.
pub(crate) struct StreamPipeline<'p> {
    pipeline: &'p Pipeline,
    labels: LabelSet,
    /// The current line once a stage rewrote it.
    line: String,
    /// Where rewriting stages write the next line.
    next: String,
    sc: Scratch,
    /// An error set on every entry before the stages run (tests only: Loki's
    /// stage tests call `SetErr` first).
    #[cfg(test)]
    preset_error: Option<(String, String)>,
}

/// An entry that passed every stage.
pub(crate) struct Processed<'s> {
    pub line: &'s str,
    pub labels: &'s mut LabelSet,
}

impl<'p> StreamPipeline<'p> {
    /// Runs every stage on one entry; `None` when a filter drops it.
    pub(crate) fn process<'s>(&'s mut self, entry: &'s Entry) -> Option<Processed<'s>> {
        #[cfg(test)]
        let Self { pipeline, labels, line, next, sc, preset_error } = self;
        #[cfg(not(test))]
        let Self { pipeline, labels, line, next, sc } = self;
        let steps = &pipeline.steps;
        for s in &steps[..pipeline.leading_filters] {
            if let Step::Line(m) = s
                && !m.matches(&entry.line)
            {
                return None;
            }
        }
        labels.reset();
        labels.add_structured_metadata(&entry.structured_metadata);
        #[cfg(test)]
        if let Some((err, details)) = preset_error {
            labels.set_error(err, details);
        }
        if let Some(pf) = &pipeline.prefilter {
            let full_hints = labels.take_hints();
            labels.set_hints(pf.hints.clone());
            labels.record_extracted = pipeline.record_extracted[pipeline.leading_filters];
            json::parse_all(&entry.line, labels, &mut sc.json);
            let passed = !labels.has_error()
                && pf.filters.clone().all(|k| match &steps[k] {
                    Step::Label(p) => p.test(labels),
                    _ => true,
                });
            let errored = labels.has_error();
            labels.set_hints(full_hints);
            if !passed && !errored {
                return None;
            }
            labels.reset();
            labels.add_structured_metadata(&entry.structured_metadata);
        }
        let ts = entry.ts_ns;
        let mut owned = false;
        for (i, s) in steps.iter().enumerate().skip(pipeline.leading_filters) {
            labels.record_extracted = pipeline.record_extracted[i];
            let cur: &str = if owned { line.as_str() } else { entry.line.as_str() };
            let rewritten = match s {
                Step::Line(m) => {
                    if !m.matches(cur) {
                        return None;
                    }
                    false
                }
                Step::Label(p) => {
                    if !p.test(labels) {
                        return None;
                    }
                    false
                }
                Step::Json => {
                    if !json::parse_all(cur, labels, &mut sc.json) {
                        return None;
                    }
                    false
                }
                Step::JsonExprs(j) => {
                    j.process(cur, labels, &mut sc.json);
                    false
                }
                Step::Logfmt(l) => {
                    if !l.process(cur, labels, &mut sc.logfmt) {
                        return None;
                    }
                    false
                }
                Step::LogfmtExprs(l) => {
                    l.process(cur, labels, &mut sc.logfmt);
                    false
                }
                Step::Regexp(r) => {
                    if !r.process(cur, labels, &mut sc.extract) {
                        return None;
                    }
                    false
                }
                Step::Pattern(p) => {
                    if !p.process(cur, labels, &mut sc.extract) {
                        return None;
                    }
                    false
                }
                Step::Unpack => match json::unpack(cur, labels, &mut sc.json, next) {
                    json::Unpacked::Same => false,
                    json::Unpacked::Replaced => true,
                    json::Unpacked::Dropped => return None,
                },
                Step::LineFormat(f) => f.process(cur, ts, labels, next, &mut sc.format),
                Step::LabelFormat(f) => {
                    f.process(cur, ts, labels, &mut sc.format);
                    false
                }
                Step::Decolorize => format::decolorize(cur, next),
                Step::Drop(items) => {
                    drop_labels(items, labels);
                    false
                }
                Step::Keep(items) => {
                    keep_labels(items, labels, &mut sc.pairs);
                    false
                }
            };
            if rewritten {
                std::mem::swap(line, next);
                owned = true;
            }
        }
        let line: &'s str = if owned { line } else { &entry.line };
        Some(Processed { line, labels })
    }
}

/// `| drop a, b="v"` (`pkg/logql/log/drop_labels.go`).
fn drop_labels(items: &[NamedMatcher], labels: &mut LabelSet) {
    for item in items {
        match item {
            NamedMatcher::Name(n) if n == ERROR_LABEL => labels.reset_error(),
            NamedMatcher::Name(n) if n == ERROR_DETAILS_LABEL => labels.reset_error_details(),
            NamedMatcher::Name(n) => {
                if labels.get(n).is_some() {
                    labels.delete(n);
                }
            }
            NamedMatcher::Matcher(m) if m.name == ERROR_LABEL => {
                if m.matches(labels.error()) {
                    labels.reset_error();
                }
            }
            NamedMatcher::Matcher(m) if m.name == ERROR_DETAILS_LABEL => {
                if m.matches(labels.error_details()) {
                    labels.reset_error_details();
                }
            }
            NamedMatcher::Matcher(m) => {
                if m.matches(labels.get(&m.name).unwrap_or("")) {
                    labels.delete(&m.name);
                }
            }
        }
    }
}

/// `| keep a, b="v"` (`pkg/logql/log/keep_labels.go`): every other label,
/// stream labels included, is deleted; the error labels stay.
fn keep_labels(items: &[NamedMatcher], labels: &mut LabelSet, buf: &mut Pairs) {
    buf.clear();
    labels.for_each(|n, v| {
        if n == ERROR_LABEL || n == ERROR_DETAILS_LABEL || n == "__preserve_error__" {
            return;
        }
        let keep = items.iter().any(|item| match item {
            NamedMatcher::Name(k) => k == n,
            NamedMatcher::Matcher(m) => m.name == n && m.matches(v),
        });
        if !keep {
            buf.push(n, "");
        }
    });
    for (n, _) in buf.as_slice() {
        labels.delete(n);
    }
}
