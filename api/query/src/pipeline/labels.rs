//! The label state of one entry while it runs through a pipeline: Loki's
//! `LabelsBuilder` (`pkg/logql/log/labels.go`). Stream labels are the base;
//! structured metadata and parsed labels are added per entry, labels can be
//! deleted, and `__error__` / `__error_details__` are kept apart.
//!
//! Precedence is Loki's: a parsed label hides structured metadata and stream
//! labels of the same name, structured metadata hides stream labels. Buffers
//! are reused across entries, so steady-state processing does not allocate.

use std::sync::Arc;

use balsa_model::{LabelPair, Labels};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use super::LabelPredicate;

pub(crate) const ERROR_LABEL: &str = "__error__";
pub(crate) const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// Added to extracted labels whose name is already a stream label.
pub(crate) const DUPLICATE_SUFFIX: &str = "_extracted";
/// Set (to `true`) with a parser error when the query asks for `__error__`
/// in a metric query's grouping or filters: the error is then a result, not
/// a failure.
pub(crate) const PRESERVE_ERROR_LABEL: &str = "__preserve_error__";

/// Loki's parser hints (`pkg/logql/log/parser_hints.go`), made by
/// `Pipeline::compile` (log queries) and `Pipeline::with_metric_hints`.
#[derive(Clone, Default)]
pub(crate) struct Hints {
    /// The label names parsers may extract (`ShouldExtract`); `None`: any.
    pub(crate) names: Option<Arc<[String]>>,
    /// `names` are Loki's required labels: parsers stop once all are
    /// extracted (`AllRequiredExtracted`, also part of `NoLabels()`) and
    /// `| json` skips nested objects no name starts with
    /// (`ShouldExtractPrefix`). Without it, `names` only restricts what is
    /// extracted (the trial parse of the `| json | <filters>` shortcut).
    pub(crate) required: bool,
    /// No label is needed: parsers other than `regexp` do nothing.
    pub(crate) no_labels: bool,
    /// Parser errors add `__preserve_error__="true"`.
    pub(crate) preserve_error: bool,
    /// The pipeline's single-label filters, by label name
    /// (`ShouldContinueParsingLine`).
    pub(crate) filters: Option<EarlyFilters>,
}

/// Label filters by the name of their label.
pub(crate) type EarlyFilters = Arc<[(String, LabelPredicate)]>;

impl std::fmt::Debug for Hints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hints")
            .field("names", &self.names)
            .field("required", &self.required)
            .field("no_labels", &self.no_labels)
            .field("preserve_error", &self.preserve_error)
            .field("filters", &self.filters.as_ref().map(|f| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()))
            .finish()
    }
}

/// Name/value pairs in insertion order whose strings are reused after
/// `clear` (removal swaps the last pair in, keeping its buffers).
#[derive(Default, Debug)]
pub(crate) struct Pairs {
    items: Vec<(String, String)>,
    len: usize,
}

impl Pairs {
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &[(String, String)] {
        &self.items[..self.len]
    }

    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.as_slice().iter().position(|(n, _)| same_name(n, name))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.as_slice().iter().find(|(n, _)| same_name(n, name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Appends a pair (the caller checked that `name` is absent).
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        if self.len < self.items.len() {
            let (n, v) = &mut self.items[self.len];
            n.clear();
            n.push_str(name);
            v.clear();
            v.push_str(value);
        } else {
            self.items.push((name.to_string(), value.to_string()));
        }
        self.len += 1;
    }

    /// Sets `name` to `value`, appending it if absent. Returns whether it was
    /// appended.
    pub(crate) fn set(&mut self, name: &str, value: &str) -> bool {
        match self.position(name) {
            Some(i) => {
                let v = &mut self.items[i].1;
                v.clear();
                v.push_str(value);
                false
            }
            None => {
                self.push(name, value);
                true
            }
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> bool {
        match self.position(name) {
            Some(i) => {
                self.items.swap(i, self.len - 1);
                self.len -= 1;
                true
            }
            None => false,
        }
    }
}

/// String equality that rejects on length and first/last byte before
/// comparing: names looked up here mostly differ early.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    x.len() == y.len() && (x.is_empty() || (x[0] == y[0] && x[x.len() - 1] == y[y.len() - 1] && x == y))
}

/// Stream labels, structured metadata and parsed labels of one entry, with
/// deletions and the error labels (Loki's `LabelsBuilder`).
#[derive(Debug)]
pub(crate) struct LabelSet {
    base: Labels,
    /// Bit `len % 64` is set for the length of every stream label name: a
    /// quick "not a stream label" for most names.
    base_lens: u64,
    sm: Pairs,
    parsed: Pairs,
    del: Pairs,
    /// Parsed labels added (not updated) for the current entry, in order;
    /// later parser stages do not overwrite them (Loki's parser hints).
    extracted: Pairs,
    /// Whether `set_parsed` records names in `extracted` (only needed when
    /// a later stage asks [`LabelSet::should_extract`]).
    pub(crate) record_extracted: bool,
    /// Loki's parser hints (see [`Hints`]).
    hints: Hints,
    /// Every hint name is a plain name (see [`LabelSet::plain_hints`]).
    hints_plain: bool,
    err: String,
    err_details: String,
}

impl LabelSet {
    pub(crate) fn new(base: &Labels) -> Self {
        Self {
            base: base.clone(),
            base_lens: base.iter().fold(0, |m, p| m | 1 << (p.name.len() % 64)),
            sm: Pairs::default(),
            parsed: Pairs::default(),
            del: Pairs::default(),
            extracted: Pairs::default(),
            record_extracted: true,
            hints: Hints::default(),
            hints_plain: false,
            err: String::new(),
            err_details: String::new(),
        }
    }

    /// The hints when each is a plain name (no `_`). A key can then be
    /// extracted only if, trimmed, it is one of them (sanitizing changes a key
    /// only by adding `_`), so parsers may skip other keys without building
    /// their names; keys that equal a hint still take the full checks.
    pub(crate) fn plain_hints(&self) -> Option<Arc<[String]>> {
        if self.hints_plain { self.hints.names.clone() } else { None }
    }

    /// The current hints, leaving none.
    pub(crate) fn take_hints(&mut self) -> Hints {
        self.hints_plain = false;
        std::mem::take(&mut self.hints)
    }

    /// Sets the parser hints (see [`Hints`]).
    pub(crate) fn set_hints(&mut self, hints: Hints) {
        self.hints_plain = hints.names.as_ref().is_some_and(|h| h.iter().all(|n| !n.contains('_')));
        self.hints = hints;
    }

    /// Loki's `NoLabels()`: parsers (but `regexp`) do not run at all, as no
    /// label is needed or every needed label is already extracted.
    pub(crate) fn no_labels(&self) -> bool {
        self.hints.no_labels || self.all_required_extracted()
    }

    /// Loki's `AllRequiredExtracted()`: with required labels, all of them
    /// have been extracted for this entry (parsers then stop).
    pub(crate) fn all_required_extracted(&self) -> bool {
        if !self.hints.required {
            return false;
        }
        let Some(names) = &self.hints.names else { return false };
        !names.is_empty() && self.extracted.len() >= names.len() && names.iter().all(|n| self.extracted.contains(n))
    }

    /// Loki's `ShouldExtractPrefix`: whether a nested JSON object whose
    /// flattened name starts `prefix` may hold a required label (else it is
    /// not walked).
    pub(crate) fn should_extract_prefix(&self, prefix: &str) -> bool {
        match &self.hints.names {
            Some(names) if self.hints.required => names.iter().any(|n| n.starts_with(prefix)),
            _ => true,
        }
    }

    /// Whether nested JSON objects are walked only when
    /// [`LabelSet::should_extract_prefix`] allows it.
    pub(crate) fn prunes_objects(&self) -> bool {
        self.hints.required && self.hints.names.is_some()
    }

    /// Loki's `ShouldContinueParsingLine`: after a parser set `name`, the
    /// first single-label filter of the pipeline on `name` runs at once; the
    /// parser drops the entry when it fails.
    pub(crate) fn should_continue(&mut self, name: &str) -> bool {
        let Some(filters) = self.hints.filters.take() else { return true };
        let pass = match filters.iter().find(|(n, _)| n == name) {
            Some((_, f)) => f.test(self),
            None => true,
        };
        self.hints.filters = Some(filters);
        pass
    }

    /// A parser's error (Loki's `addErrLabel`): `__error__`, the details when
    /// given, and `__preserve_error__="true"` when the hints ask for errors.
    pub(crate) fn parser_error(&mut self, kind: &str, details: Option<&str>) {
        self.err.clear();
        self.err.push_str(kind);
        if let Some(d) = details {
            self.err_details.clear();
            self.err_details.push_str(d);
        }
        if self.hints.preserve_error {
            self.set_parsed(PRESERVE_ERROR_LABEL, "true");
        }
    }

    /// Forgets everything but the stream labels.
    pub(crate) fn reset(&mut self) {
        self.sm.clear();
        self.parsed.clear();
        self.del.clear();
        self.extracted.clear();
        self.err.clear();
        self.err_details.clear();
    }

    /// Adds an entry's structured metadata (Loki's `Add`): a name that is
    /// also a stream label gets the `_extracted` suffix; `__error__` and
    /// `__error_details__` set the error fields.
    pub(crate) fn add_structured_metadata(&mut self, pairs: &[LabelPair]) {
        let mut buf = String::new();
        for p in pairs {
            let name = if self.base_has(&p.name) {
                buf.clear();
                buf.push_str(&p.name);
                buf.push_str(DUPLICATE_SUFFIX);
                buf.as_str()
            } else {
                p.name.as_str()
            };
            if name == ERROR_LABEL {
                self.err.clear();
                self.err.push_str(&p.value);
            } else if name == ERROR_DETAILS_LABEL {
                self.err_details.clear();
                self.err_details.push_str(&p.value);
            } else if !self.parsed.contains(name) {
                self.sm.set(name, &p.value);
            }
        }
    }

    /// Whether the original stream labels have `name` (deletions ignored).
    pub(crate) fn base_has(&self, name: &str) -> bool {
        self.base_get(name).is_some()
    }

    /// Whether a parser must add `name` as `name_extracted`: a stream label
    /// or a structured metadata label has the name (Loki's `BaseHas(key) ||
    /// HasInCategory(key, StructuredMetadataLabel)`).
    pub(crate) fn collides(&self, name: &str) -> bool {
        self.base_has(name) || self.sm.contains(name)
    }

    fn base_get(&self, name: &str) -> Option<&str> {
        if self.base_lens & (1 << (name.len() % 64)) == 0 {
            return None;
        }
        self.base.iter().find(|p| same_name(&p.name, name)).map(|p| p.value.as_str())
    }

    /// A label's value with Loki's `LabelsBuilder.Get` precedence: parsed,
    /// structured metadata, then stream labels unless deleted. Error labels
    /// are not labels here (see [`LabelSet::value_with_errors`]).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        if let Some(v) = self.parsed.get(name) {
            return Some(v);
        }
        if let Some(v) = self.sm.get(name) {
            return Some(v);
        }
        if self.del.contains(name) {
            return None;
        }
        self.base_get(name)
    }

    /// The value as templates see it (Loki's `LabelsBuilder.Map`): like
    /// [`LabelSet::get`], but `__error__` and `__error_details__` are the
    /// error fields when set.
    pub(crate) fn value_with_errors(&self, name: &str) -> Option<&str> {
        if name == ERROR_LABEL && !self.err.is_empty() {
            return Some(&self.err);
        }
        if name == ERROR_DETAILS_LABEL && !self.err_details.is_empty() {
            return Some(&self.err_details);
        }
        self.get(name)
    }

    /// Sets a parsed label (Loki's `Set(ParsedLabel, ...)`): it hides
    /// structured metadata and stream labels of the same name.
    pub(crate) fn set_parsed(&mut self, name: &str, value: &str) {
        self.sm.remove(name);
        if self.parsed.set(name, value) && self.record_extracted {
            self.extracted.push(name, "");
        }
    }

    /// Whether a parser may set `name`: not if a parsed label of that name
    /// was already set for this entry, by an earlier stage or earlier in the
    /// same line (Loki's `ParserHints().Extracted`: the first value wins, as
    /// for `a=1 a=2` in logfmt).
    pub(crate) fn should_extract(&self, name: &str) -> bool {
        if let Some(hints) = &self.hints.names
            && !hints.iter().any(|h| h == name)
        {
            return false;
        }
        !self.extracted.contains(name)
    }

    /// Deletes a label from every category (Loki's `Del`).
    pub(crate) fn delete(&mut self, name: &str) {
        self.sm.remove(name);
        self.parsed.remove(name);
        if !self.del.contains(name) {
            self.del.push(name, "");
        }
    }

    pub(crate) fn set_error(&mut self, err: &str, details: &str) {
        self.err.clear();
        self.err.push_str(err);
        self.err_details.clear();
        self.err_details.push_str(details);
    }

    pub(crate) fn has_error(&self) -> bool {
        !self.err.is_empty()
    }

    pub(crate) fn error(&self) -> &str {
        &self.err
    }

    pub(crate) fn error_details(&self) -> &str {
        &self.err_details
    }

    pub(crate) fn reset_error(&mut self) {
        self.err.clear();
    }

    pub(crate) fn reset_error_details(&mut self) {
        self.err_details.clear();
    }

    /// Calls `f` for every visible label (Loki's `UnsortedLabels`): stream
    /// labels not deleted or hidden, structured metadata not hidden, parsed
    /// labels, then the error labels when set.
    pub(crate) fn for_each<'a>(&'a self, mut f: impl FnMut(&'a str, &'a str)) {
        self.for_each_stream(&mut f);
        self.for_each_sm(&mut f);
        for (n, v) in self.parsed.as_slice() {
            f(n, v);
        }
        self.for_each_error(&mut f);
    }

    fn for_each_stream<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a str)) {
        let plain = self.del.len() == 0 && self.sm.len() == 0 && self.parsed.len() == 0;
        for p in self.base.iter() {
            if plain || !(self.del.contains(&p.name) || self.sm.contains(&p.name) || self.parsed.contains(&p.name)) {
                f(&p.name, &p.value);
            }
        }
    }

    fn for_each_sm<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a str)) {
        for (n, v) in self.sm.as_slice() {
            if !self.parsed.contains(n) {
                f(n, v);
            }
        }
    }

    fn for_each_error<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a str)) {
        if !self.err.is_empty() {
            f(ERROR_LABEL, &self.err);
        }
        if !self.err_details.is_empty() {
            f(ERROR_DETAILS_LABEL, &self.err_details);
        }
    }

    /// All labels merged and sorted, including `__error__` and
    /// `__error_details__` when set (Loki's `LabelsResult.Labels()`).
    pub(crate) fn to_labels(&self) -> Labels {
        let mut pairs = Vec::with_capacity(self.base.len() + self.sm.len() + self.parsed.len() + 2);
        self.for_each(|n, v| pairs.push(LabelPair { name: n.to_string(), value: v.to_string() }));
        Labels::new(pairs)
    }

    /// Whether [`LabelSet::to_labels`] would equal `labels` (no allocation).
    pub(crate) fn same_as(&self, labels: &Labels) -> bool {
        let mut n = 0;
        let mut same = true;
        self.for_each(|name, v| {
            n += 1;
            same = same && labels.get(name) == Some(v);
        });
        same && n == labels.len()
    }

    /// A hash of [`LabelSet::to_labels`] computed without building it: each
    /// pair is hashed on its own and the results are summed, so the order
    /// labels were added in does not matter.
    pub(crate) fn hash(&self) -> u64 {
        let mut total: u64 = 0;
        let mut count: u64 = 0;
        self.for_each(|n, v| {
            total = total.wrapping_add(xxh3_64_with_seed(v.as_bytes(), xxh3_64(n.as_bytes())));
            count += 1;
        });
        // Mix in the count so that sums of different sizes rarely collide.
        xxh3_64_with_seed(&total.to_le_bytes(), count)
    }

    /// The stream-label category: stream labels not deleted and not hidden
    /// by structured metadata or parsed labels.
    #[allow(dead_code)] // part of the interface the metric engine uses
    pub(crate) fn stream(&self) -> Labels {
        let mut pairs = Vec::with_capacity(self.base.len());
        self.for_each_stream(&mut |n: &str, v: &str| pairs.push(LabelPair { name: n.into(), value: v.into() }));
        Labels::new(pairs)
    }

    /// The structured-metadata category, sorted by name.
    pub(crate) fn structured_metadata(&self) -> Vec<LabelPair> {
        let mut pairs = Vec::with_capacity(self.sm.len());
        self.for_each_sm(&mut |n: &str, v: &str| pairs.push(LabelPair { name: n.into(), value: v.into() }));
        pairs.sort();
        pairs
    }

    /// The parsed category (including the error labels), sorted by name.
    pub(crate) fn parsed(&self) -> Vec<LabelPair> {
        let mut pairs: Vec<LabelPair> =
            self.parsed.as_slice().iter().map(|(n, v)| LabelPair { name: n.clone(), value: v.clone() }).collect();
        self.for_each_error(&mut |n: &str, v: &str| pairs.push(LabelPair { name: n.into(), value: v.into() }));
        pairs.sort();
        pairs
    }
}

/// Loki's `sanitizeLabelKey`/`appendSanitized`: trims white space, prefixes
/// `_` when the key starts with a digit, and replaces every character other
/// than `[a-zA-Z0-9_]` with `_`. Appends to `out`.
pub(crate) fn append_sanitized(out: &mut String, key: &str) {
    let b = key.as_bytes();
    let plain_ends = |c: u8| c > b' ' && c < 0x80;
    let key = if b.first().is_some_and(|&c| plain_ends(c)) && b.last().is_some_and(|&c| plain_ends(c)) {
        key
    } else {
        key.trim()
    };
    if key.is_empty() {
        return;
    }
    if key.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        out.push_str(key);
        return;
    }
    for c in key.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' });
    }
}

/// Whether a key may become one of [`LabelSet::plain_hints`]: `key.trim()`
/// is one of them (the trim is skipped when `key` starts and ends with a
/// visible ASCII character, the usual case).
pub(crate) fn may_be_plain_hint(hints: &[String], key: &str) -> bool {
    let key = match (key.as_bytes().first(), key.as_bytes().last()) {
        (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => key,
        _ => key.trim(),
    };
    hints.iter().any(|h| h == key)
}

/// Loki's `appendLabelHints`: each name, and for a name ending in
/// `_extracted` also the name without it (a parser names a key that collides
/// with a stream label `x_extracted` only after looking at the hints).
/// Empty names are left out and each name is kept once (`uniqueString`).
pub(crate) fn append_label_hints<'a>(dst: &mut Vec<String>, src: impl IntoIterator<Item = &'a str>) {
    for n in src {
        for n in [Some(n), n.strip_suffix(DUPLICATE_SUFFIX)].into_iter().flatten() {
            if !n.is_empty() && !dst.iter().any(|d| d == n) {
                dst.push(n.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(n: &str, v: &str) -> LabelPair {
        LabelPair { name: n.into(), value: v.into() }
    }

    #[test]
    fn precedence_deletion_and_categories() {
        let mut l = LabelSet::new(&Labels::from_pairs([("app", "a"), ("env", "prod")]));
        l.add_structured_metadata(&[lp("trace", "t1"), lp("app", "sm")]);
        assert_eq!(l.get("app"), Some("a"));
        assert_eq!(l.get("app_extracted"), Some("sm"));
        l.set_parsed("env", "dev");
        l.set_parsed("trace", "parsed");
        assert_eq!(l.get("env"), Some("dev"));
        assert_eq!(l.get("trace"), Some("parsed"));
        assert_eq!(l.stream().canonical(), r#"{app="a"}"#);
        assert_eq!(l.structured_metadata(), vec![lp("app_extracted", "sm")]);
        assert_eq!(l.parsed(), vec![lp("env", "dev"), lp("trace", "parsed")]);
        l.delete("app");
        l.delete("env");
        assert_eq!(l.get("app"), None);
        assert_eq!(l.get("env"), None);
        l.set_error("E", "d");
        assert_eq!(
            l.to_labels().canonical(),
            r#"{__error__="E", __error_details__="d", app_extracted="sm", trace="parsed"}"#
        );
        assert_eq!(l.get(ERROR_LABEL), None);
        assert_eq!(l.value_with_errors(ERROR_LABEL), Some("E"));
        let h = l.hash();
        let mut m = LabelSet::new(&Labels::from_pairs([("trace", "parsed"), ("app_extracted", "sm")]));
        m.set_error("E", "d");
        assert_eq!(m.hash(), h, "hash depends on the merged labels only");
        m.set_error("E", "other");
        assert_ne!(m.hash(), h);
        l.reset();
        assert_eq!(l.to_labels().canonical(), r#"{app="a", env="prod"}"#);
        assert!(!l.has_error());
    }

    #[test]
    fn hints_limit_extraction() {
        let mut l = LabelSet::new(&Labels::default());
        let mut names = Vec::new();
        append_label_hints(&mut names, ["level", "status_extracted", "", "level"]);
        assert_eq!(names, ["level", "status_extracted", "status"]);
        l.set_hints(Hints { names: Some(names.into()), ..Hints::default() });
        assert!(l.should_extract("level"));
        assert!(!l.should_extract("level_extracted"), "as in Loki, only the names themselves");
        assert!(l.should_extract("status"));
        assert!(l.should_extract("status_extracted"));
        assert!(!l.should_extract("latency"));
        l.set_hints(Hints::default());
        assert!(l.should_extract("latency"));
    }

    #[test]
    fn required_labels_all_extracted() {
        let mut l = LabelSet::new(&Labels::default());
        let names: Arc<[String]> = vec!["a".to_string(), "b_c".to_string()].into();
        l.set_hints(Hints { names: Some(names), required: true, ..Hints::default() });
        assert!(!l.no_labels());
        assert!(l.should_extract_prefix("b") && !l.should_extract_prefix("c"));
        l.set_parsed("a", "1");
        assert!(!l.all_required_extracted());
        l.set_parsed("b_c", "2");
        assert!(l.all_required_extracted() && l.no_labels());
        l.reset();
        assert!(!l.no_labels());
        l.set_hints(Hints { no_labels: true, ..Hints::default() });
        assert!(l.no_labels());
    }

    #[test]
    fn should_extract_keeps_the_first_value() {
        let mut l = LabelSet::new(&Labels::default());
        l.set_parsed("a", "1");
        assert!(!l.should_extract("a"));
        assert!(l.should_extract("b"));
        l.set_parsed("b", "2");
        assert!(!l.should_extract("b"), "as in Loki, a stage does not overwrite its own labels either");
    }

    #[test]
    fn sanitize() {
        let s = |k: &str| {
            let mut o = String::new();
            append_sanitized(&mut o, k);
            o
        };
        assert_eq!(s("cou-nter"), "cou_nter");
        assert_eq!(s(" "), "");
        assert_eq!(s("1abc"), "_1abc");
        assert_eq!(s("User-Agent"), "User_Agent");
        assert_eq!(s("ÜFT8"), "_FT8");
        assert_eq!(s(" a.b "), "a_b");
    }
}
