//! Logs Drilldown's discovery: `detected_labels`, `detected_fields` and
//! `detected_field/{name}/values`, as Loki 3.7 computes them
//! (`pkg/querier/querier.go` `DetectedLabels`,
//! `pkg/querier/queryrange/detected_fields.go`).
//!
//! - Labels: every stream label of the selected streams with its number of
//!   distinct values, except labels whose values are all IDs (numbers or
//!   UUIDs; `0`/`1` alone count as booleans) and labels without values;
//!   `cluster`, `namespace`, `instance` and `pod` are always kept.
//! - Fields: the newest `line_limit` entries of a log query (its pipeline
//!   included), regrouped by stream labels and read stream by stream in
//!   label order, newest entry first. Each entry contributes its structured
//!   metadata (no parser), the labels the query's parsers set, and what
//!   `| json` (or, when that fails, `| logfmt`) extracts from its line next
//!   to its stream labels. A field's type is inferred from its first value
//!   in each entry, so the last entry read decides; `parsers` gathers the
//!   parsers that found it; `jsonPath` is where `| json` found it.
//!
//! Loki counts distinct values with a HyperLogLog sketch (axiomhq, sparse
//! below a few thousand values, where its estimate is the exact count);
//! here the count is exact. Loki's answers come from Go maps in random
//! order; here they are sorted by name (values by value).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use balsa_logql::{Expr, Matcher, Stage};
use balsa_model::{Entry, LabelPair, Labels, StreamReader};

use crate::convert;
use crate::error::QueryError;
use crate::logs::{LogEntry, LogQuery, StreamResult, run_log_query};
use crate::pipeline::{LabelSet, PRESERVE_ERROR_LABEL, Pipeline, label_paths};

/// Labels Loki keeps whatever their values (`staticLabels`).
pub const STATIC_LABELS: [&str; 4] = ["cluster", "namespace", "instance", "pod"];

const ERROR_LABEL: &str = "__error__";
const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// One entry of `detectedLabels`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectedLabel {
    pub label: String,
    pub cardinality: u64,
}

/// Loki's `DetectedFieldType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    String,
    Int,
    Float,
    Boolean,
    Duration,
    Bytes,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Duration => "duration",
            FieldType::Bytes => "bytes",
        }
    }
}

/// One entry of `fields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectedField {
    pub label: String,
    pub kind: FieldType,
    pub cardinality: u64,
    /// `None` for structured metadata (Loki's `null`), else `json` and/or
    /// `logfmt` in the order they found the field.
    pub parsers: Option<Vec<String>>,
    /// Where `| json` found the field (raw keys); `None` when it did not.
    pub json_path: Option<Vec<String>>,
}

// ---------------------------------------------------------------- labels

/// `detected_labels` over the streams selected by `matchers` (every stream
/// when empty) with data in `[start_ns, end_ns]`, sorted by label.
pub fn detected_labels(
    readers: &[&dyn StreamReader],
    tenant: &str,
    start_ns: i64,
    end_ns: i64,
    matchers: &[Matcher],
) -> Result<Vec<DetectedLabel>, QueryError> {
    let groups: Vec<Vec<Matcher>> = if matchers.is_empty() { Vec::new() } else { vec![matchers.to_vec()] };
    let series = crate::labels::series(readers, tenant, start_ns, end_ns, &groups)?;
    Ok(labels_of_series(&series))
}

/// Loki's `countLabelsAndCardinality` over stream label sets.
pub fn labels_of_series(series: &[Labels]) -> Vec<DetectedLabel> {
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for labels in series {
        for p in labels.iter() {
            let set = values.entry(p.name.as_str()).or_default();
            if !p.value.is_empty() {
                set.insert(p.value.as_str());
            }
        }
    }
    values
        .into_iter()
        .filter(|(name, vals)| {
            let vals: Vec<&str> = vals.iter().copied().collect();
            (STATIC_LABELS.contains(name) && !vals.is_empty()) || !should_reject_label(&vals)
        })
        .map(|(name, vals)| DetectedLabel { label: name.to_string(), cardinality: vals.len() as u64 })
        .collect()
}

/// Loki's `shouldRejectLabel`: no values, or only IDs (numbers, UUIDs);
/// up to two values all `0`/`1` are booleans and kept.
pub fn should_reject_label(values: &[&str]) -> bool {
    if values.is_empty() {
        return true;
    }
    if values.len() > 2 {
        return contains_all_id_types(values);
    }
    if values.iter().all(|v| *v == "0" || *v == "1") {
        return false;
    }
    contains_all_id_types(values)
}

/// Loki's `containsAllIDTypes`: every value parses as a float (Go's
/// `ParseFloat`) or a UUID (google/uuid's `Parse`).
pub fn contains_all_id_types(values: &[&str]) -> bool {
    values.iter().all(|v| go_parse_float(v) || is_uuid(v))
}

/// google/uuid's `Parse`: 36 characters with dashes, wrapped (in `{}`),
/// prefixed by `urn:uuid:`, or 32 hex digits.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        36 => dashed(b),
        // google/uuid drops the first and last characters without looking.
        38 => dashed(&b[1..37]),
        45 => b[..9].eq_ignore_ascii_case(b"urn:uuid:") && dashed(&b[9..]),
        32 => b.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
fn dashed(b: &[u8]) -> bool {
    let part = |i: usize, c: &u8| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() };
    b.len() == 36 && b.iter().enumerate().all(|(i, c)| part(i, c))
}

// ---------------------------------------------------------------- types

/// Go's `strconv.ParseInt(v, 10, 64)` succeeds.
fn go_parse_int(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && v.parse::<i64>().is_ok()
}

/// Go's `strconv.ParseFloat(v, 64)` succeeds (an overflow to ±Inf is an
/// error in Go).
fn go_parse_float(v: &str) -> bool {
    match convert::parse_float(v) {
        Ok(f) if f.is_infinite() => {
            let t = v.trim_start_matches(['+', '-']);
            t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("infinity")
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// Go's `strconv.ParseBool` succeeds.
fn go_parse_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False")
}

/// Loki's `determineType`: int, float, boolean, duration, bytes, else string,
/// tried in that order with Go's parsers.
pub fn determine_type(value: &str) -> FieldType {
    if go_parse_int(value) {
        FieldType::Int
    } else if go_parse_float(value) {
        FieldType::Float
    } else if go_parse_bool(value) {
        FieldType::Boolean
    } else if convert::parse_go_duration_ns(value).is_ok() {
        FieldType::Duration
    } else if balsa_logql::units::parse_bytes(value).is_ok() {
        FieldType::Bytes
    } else {
        FieldType::String
    }
}

/// Units after which a byte size is rewritten for `detected_field/values`
/// (`allowedBytesUnits`, matched as suffixes of the lower-cased value).
const BYTES_UNITS: [&str; 25] = [
    "b", "kib", "kb", "mib", "mb", "gib", "gb", "tib", "tb", "pib", "pb", "eib", "eb", "ki", "k", "mi", "m", "gi", "g",
    "ti", "t", "pi", "p", "ei", "e",
];

/// go-humanize's `Bytes` (SI units) with the space removed: `1.0MB`, `512B`.
pub fn humanize_bytes(s: u64) -> String {
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if s < 10 {
        return format!("{s}B");
    }
    let e = ((s as f64).ln() / 1000f64.ln()).floor();
    let suffix = SIZES[(e as usize).min(SIZES.len() - 1)];
    let val = ((s as f64) / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 { format!("{val:.1}{suffix}") } else { format!("{val:.0}{suffix}") }
}

/// A parsed value as `detected_field/values` lists it: byte sizes with a
/// unit are rewritten so that they can go into a query.
fn value_for_listing(v: &str) -> String {
    if let Ok(bs) = balsa_logql::units::parse_bytes(v) {
        let lower = v.to_ascii_lowercase();
        if BYTES_UNITS.iter().any(|u| lower.ends_with(u)) {
            return humanize_bytes(bs);
        }
    }
    v.to_string()
}

// ---------------------------------------------------------------- fields

/// The sample `detected_fields` reads: the newest `line_limit` entries of a
/// log query (backward), its pipeline included.
pub fn sample(readers: &[&dyn StreamReader], q: &LogQuery<'_>) -> Result<Vec<StreamResult>, QueryError> {
    Ok(run_log_query(readers, q)?.streams)
}

/// The entries of a query result regrouped by stream labels (Loki's
/// categorized response), streams in the order of their printed labels,
/// entries newest first.
fn by_stream(streams: &[StreamResult]) -> Vec<(Labels, Vec<&LogEntry>)> {
    let mut groups: BTreeMap<String, (Labels, Vec<&LogEntry>)> = BTreeMap::new();
    for s in streams {
        for e in &s.entries {
            let labels = e.stream_labels(&s.labels);
            groups.entry(labels.to_string()).or_insert_with(|| (labels, Vec::new())).1.push(e);
        }
    }
    let mut out: Vec<(Labels, Vec<&LogEntry>)> = groups.into_values().collect();
    for (_, entries) in &mut out {
        entries.sort_by_key(|e| std::cmp::Reverse(e.ts_ns));
    }
    out
}

/// The two parsers Loki tries on each line, compiled once.
struct Parsers {
    json: Pipeline,
    logfmt: Pipeline,
}

impl Parsers {
    fn new() -> Result<Self, QueryError> {
        let stages = |q: &str| -> Result<Vec<Stage>, QueryError> {
            match balsa_logql::parse_expr(q)? {
                Expr::Log(l) => Ok(l.stages),
                Expr::Sample(_) => Err(QueryError::Execution("not a log query".into())),
            }
        };
        Ok(Self {
            json: Pipeline::compile(&stages("{a=\"b\"} | json")?)?,
            logfmt: Pipeline::compile(&stages("{a=\"b\"} | logfmt")?)?,
        })
    }
}

fn is_error_label(name: &str) -> bool {
    name == ERROR_LABEL || name == ERROR_DETAILS_LABEL || name == PRESERVE_ERROR_LABEL
}

/// Distinct values per name, names and values sorted.
type Values = BTreeMap<String, BTreeSet<String>>;

fn group(pairs: &[LabelPair]) -> Values {
    let mut out = Values::new();
    for p in pairs {
        out.entry(p.name.clone()).or_default().insert(p.value.clone());
    }
    out
}

/// What Loki's `parseEntry` finds in one entry: the labels the query's
/// parsers set, plus those `| json` (or else `| logfmt`) extracts from
/// the line beside the stream labels; which parser succeeded; and, for
/// `| json`, where each label came from.
struct ParsedEntry {
    labels: Values,
    parser: Option<&'static str>,
    paths: HashMap<String, Vec<String>>,
}

fn parse_entry(entry: &LogEntry, stream: &Labels, parsers: &Parsers) -> ParsedEntry {
    let mut labels = group(&entry.parsed);
    labels.retain(|name, _| !is_error_label(name));
    let line = Entry { ts_ns: entry.ts_ns, line: entry.line.clone(), structured_metadata: Vec::new() };
    let run = |p: &Pipeline| -> Option<Vec<LabelPair>> {
        let mut sp = p.for_stream(stream);
        let out = sp.process(&line)?;
        let set: &LabelSet = out.labels;
        (!set.has_error()).then(|| set.parsed())
    };
    let (found, parser) = match run(&parsers.json) {
        Some(found) => (found, "json"),
        None => match run(&parsers.logfmt) {
            Some(found) => (found, "logfmt"),
            None => return ParsedEntry { labels, parser: None, paths: HashMap::new() },
        },
    };
    for p in found {
        if !is_error_label(&p.name) {
            labels.entry(p.name).or_default().insert(p.value);
        }
    }
    let paths = if parser == "json" {
        label_paths(&entry.line, &|name| stream.get(name).is_some()).into_iter().collect()
    } else {
        HashMap::new()
    };
    ParsedEntry { labels, parser: Some(parser), paths }
}

struct FieldAcc {
    kind: FieldType,
    parsers: Vec<String>,
    json_path: Option<Vec<String>>,
    values: BTreeSet<String>,
}

/// Loki's `parseDetectedFields`: at most `limit` fields, the first found.
pub fn fields_of(streams: &[StreamResult], limit: usize) -> Result<Vec<DetectedField>, QueryError> {
    let parsers = Parsers::new()?;
    let mut fields: BTreeMap<String, FieldAcc> = BTreeMap::new();
    let new_field =
        |parsers: Vec<String>| FieldAcc { kind: FieldType::String, parsers, json_path: None, values: BTreeSet::new() };
    for (stream, entries) in by_stream(streams) {
        for entry in entries {
            for (name, vals) in group(&entry.structured_metadata) {
                if !fields.contains_key(&name) && fields.len() < limit {
                    fields.insert(name.clone(), new_field(Vec::new()));
                }
                let Some(f) = fields.get_mut(&name) else { continue };
                if let Some(first) = vals.first() {
                    f.kind = determine_type(first);
                }
                f.values.extend(vals);
            }
            let parsed = parse_entry(entry, &stream, &parsers);
            let used: Vec<String> = parsed.parser.map(|p| vec![p.to_string()]).unwrap_or_default();
            for (name, vals) in parsed.labels {
                if !fields.contains_key(&name) && fields.len() < limit {
                    fields.insert(name.clone(), new_field(used.clone()));
                }
                let Some(f) = fields.get_mut(&name) else { continue };
                for p in &used {
                    if !f.parsers.contains(p) {
                        f.parsers.push(p.clone());
                    }
                }
                if parsed.parser == Some("json") {
                    f.json_path = parsed.paths.get(&name).cloned();
                }
                if let Some(first) = vals.first() {
                    f.kind = determine_type(first);
                }
                f.values.extend(vals);
            }
        }
    }
    Ok(fields
        .into_iter()
        .map(|(label, f)| DetectedField {
            label,
            kind: f.kind,
            cardinality: f.values.len() as u64,
            parsers: (!f.parsers.is_empty()).then_some(f.parsers),
            json_path: f.json_path.filter(|p| !p.is_empty()),
        })
        .collect())
}

/// Loki's `parseDetectedFieldValues`: the distinct values of field `name`
/// (structured metadata or parsed), reading entries until `limit` values
/// are found; byte sizes with a unit rewritten (`1024KB` → `1.0MB`).
pub fn field_values_of(streams: &[StreamResult], limit: usize, name: &str) -> Result<Vec<String>, QueryError> {
    let parsers = Parsers::new()?;
    let mut values = BTreeSet::new();
    for (stream, entries) in by_stream(streams) {
        for entry in entries {
            if values.len() >= limit {
                break;
            }
            for p in &entry.structured_metadata {
                if p.name == name {
                    values.insert(p.value.clone());
                }
            }
            if let Some(vals) = parse_entry(entry, &stream, &parsers).labels.remove(name) {
                values.extend(vals.iter().map(|v| value_for_listing(v)));
            }
        }
    }
    Ok(values.into_iter().collect())
}

/// `detected_fields` over the sample of `q`.
pub fn detected_fields(
    readers: &[&dyn StreamReader],
    q: &LogQuery<'_>,
    limit: usize,
) -> Result<Vec<DetectedField>, QueryError> {
    fields_of(&sample(readers, q)?, limit)
}

/// `detected_field/{name}/values` over the sample of `q`.
pub fn detected_field_values(
    readers: &[&dyn StreamReader],
    q: &LogQuery<'_>,
    limit: usize,
    name: &str,
) -> Result<Vec<String>, QueryError> {
    field_values_of(&sample(readers, q)?, limit, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_as_google_uuid_parses_them() {
        for ok in [
            "751e8ee6-b377-4b2e-b7b5-5508fbe980ef",
            "{751e8ee6-b377-4b2e-b7b5-5508fbe980ef}",
            "urn:uuid:751E8EE6-B377-4B2E-B7B5-5508FBE980EF",
            "751e8ee6b3774b2eb7b55508fbe980ef",
        ] {
            assert!(is_uuid(ok), "{ok}");
        }
        for bad in ["751e8ee6-b377-4b2e-b7b5-5508fbe980eg", "751e8ee6_b377-4b2e-b7b5-5508fbe980ef", "abc", ""] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn json_paths_follow_lokis_parser() {
        let paths: HashMap<String, Vec<String>> =
            label_paths(r#"{"a":{"b-c":1,"app":"x"},"app":"y","n":null,"l":[1]}"#, &|n| n == "app")
                .into_iter()
                .collect();
        assert_eq!(paths["a_b_c"], ["a", "b-c"]);
        assert_eq!(paths["a_app"], ["a", "app"]);
        assert_eq!(paths["app_extracted"], ["app"]);
        assert_eq!(paths.len(), 3);
    }
}
