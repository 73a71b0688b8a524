//! Per-tenant validation, as Loki's distributor does it
//! (`pkg/distributor/distributor.go`, `validator.go`): invalid streams and
//! entries are dropped, valid ones kept, and every error message is grouped
//! into one 400 body (Loki's `GroupedErrors`).

use std::collections::HashMap;
use std::sync::Arc;

use balsa_model::{Entry, LabelPair, Labels, PushRequest, StreamPush};

use crate::error::{GroupedErrors, PushError};
use crate::field_detection::{FieldDetector, GenericFields};
use crate::label_parser::is_valid_label_name;
use crate::limits::LimitsConfig;
use crate::overrides::Overrides;
use crate::service_name::{AGGREGATED_METRIC_LABEL, SERVICE_NAME_LABEL, discover_service_name};
use crate::timefmt::rfc3339;

static NO_FIELDS: GenericFields = GenericFields { fields: std::collections::BTreeMap::new() };

/// Loki's validation error format strings (`pkg/validation/validate.go`).
pub mod messages {
    pub const MISSING_LABELS: &str = "error at least one label pair is required per stream";
}

/// Validates pushes against each tenant's [`LimitsConfig`]: the defaults,
/// or the tenant's runtime-config overrides ([`Overrides`]).
#[derive(Clone, Debug)]
pub struct Validator {
    overrides: Arc<Overrides>,
}

/// The outcome of [`Validator::validate`]: what to write, and the 400 to
/// answer with if anything was rejected (Loki writes the valid part and
/// still answers 400).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidatedPush {
    /// Valid entries, streams with identical label sets merged, labels with
    /// `service_name` discovered. Streams left without entries are omitted.
    pub accepted: PushRequest,
    /// `Some(PushError::Validation(body))` when anything was rejected.
    pub error: Option<PushError>,
    /// Entries rejected (for `discarded_samples_total`).
    pub discarded_lines: usize,
    /// Bytes (line + structured metadata) rejected.
    pub discarded_bytes: usize,
}

impl ValidatedPush {
    /// Ok when nothing was rejected, else the grouped 400.
    pub fn result(&self) -> Result<(), &PushError> {
        match &self.error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl Validator {
    /// The same limits for every tenant.
    pub fn new(limits: LimitsConfig) -> Self {
        Self::with_overrides(Arc::new(Overrides::new(limits)))
    }

    /// Per-tenant limits from `overrides` (shared with whoever reloads them).
    pub fn with_overrides(overrides: Arc<Overrides>) -> Self {
        Self { overrides }
    }

    /// `limits_config`: the defaults, for tenants without overrides. Code
    /// serving a request wants [`limits_for`](Self::limits_for).
    pub fn limits(&self) -> &LimitsConfig {
        self.overrides.defaults()
    }

    /// `tenant`'s effective limits, overrides included.
    pub fn limits_for(&self, tenant: &str) -> Arc<LimitsConfig> {
        self.overrides.limits_for(tenant)
    }

    pub fn overrides(&self) -> &Arc<Overrides> {
        &self.overrides
    }

    /// Validates `req` for `tenant` at time `now_ns` (Unix nanoseconds).
    ///
    /// Order, as Loki: labels with empty values dropped; `service_name` discovery; streams without entries are
    /// skipped; lines are truncated when `max_line_size_truncate`; the label
    /// set is checked once per stream (its error drops the whole stream);
    /// then each entry (old/new timestamp, line size, structured metadata).
    /// Accepted structured-metadata names are normalized and U+FFFD removed
    /// from their values, as Loki's distributor does.
    pub fn validate(&self, tenant: &str, req: PushRequest, now_ns: i64) -> ValidatedPush {
        let limits = self.limits_for(tenant);
        let l: &LimitsConfig = &limits;
        let oldest = now_ns.saturating_sub(l.reject_old_samples_max_age.as_nanos_i64());
        let newest = now_ns.saturating_add(l.creation_grace_period.as_nanos_i64());
        let max_line = l.max_line_size.as_usize();

        let mut errors = GroupedErrors::default();
        let mut out: Vec<StreamPush> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut discarded_lines = 0;
        let mut discarded_bytes = 0;

        for mut stream in req.streams {
            // Empty values mean "absent" (Loki's label parser drops them).
            if stream.labels.iter().any(|p| p.value.is_empty()) {
                let pairs = std::mem::take(&mut stream.labels).into_pairs();
                stream.labels = Labels::new(pairs.into_iter().filter(|p| !p.value.is_empty()).collect());
            }
            discover_service_name(&mut stream.labels, &l.discover_service_name);
            if stream.entries.is_empty() {
                continue;
            }
            if l.max_line_size_truncate && max_line > 0 {
                for e in &mut stream.entries {
                    truncate_at_char_boundary(&mut e.line, max_line);
                }
            }
            if let Err(msg) = check_labels(l, &stream.labels) {
                errors.add(msg);
                discarded_lines += stream.entries.len();
                discarded_bytes += stream.entries.iter().map(Entry::size).sum::<usize>();
                continue;
            }
            let printed = stream.labels.canonical();
            let detector = FieldDetector {
                levels: l.discover_log_levels && l.allow_structured_metadata,
                level_fields: &l.log_level_fields,
                json_max_depth: l.log_level_from_json_max_depth,
                generic: if l.allow_structured_metadata { &l.discover_generic_fields } else { &NO_FIELDS },
            };
            let mut kept = Vec::with_capacity(stream.entries.len());
            for mut e in stream.entries {
                match check_entry(l, &printed, &e, oldest, newest, max_line) {
                    Ok(()) => {
                        normalize_structured_metadata(&mut e.structured_metadata);
                        detector.apply(&stream.labels, &mut e);
                        kept.push(e);
                    }
                    Err(msg) => {
                        errors.add(msg);
                        discarded_lines += 1;
                        discarded_bytes += e.size();
                    }
                }
            }
            if kept.is_empty() {
                continue;
            }
            match index.get(&stream.labels) {
                Some(&i) => out[i].entries.extend(kept),
                None => {
                    index.insert(stream.labels.clone(), out.len());
                    out.push(StreamPush { labels: stream.labels, entries: kept });
                }
            }
        }

        ValidatedPush {
            accepted: PushRequest { streams: out },
            error: errors.message().map(PushError::Validation),
            discarded_lines,
            discarded_bytes,
        }
    }
}

/// Loki's `ValidateLabels`.
fn check_labels(l: &LimitsConfig, labels: &Labels) -> Result<(), String> {
    if labels.is_empty() {
        return Err(messages::MISSING_LABELS.to_string());
    }
    if labels.get(AGGREGATED_METRIC_LABEL).is_some() {
        return Ok(());
    }
    let printed = || labels.canonical();
    let mut count = labels.len();
    if labels.get(SERVICE_NAME_LABEL).is_some() {
        count -= 1;
    }
    if count > l.max_label_names_per_series {
        return Err(format!(
            "entry for stream '{}' has {} label names; limit {}",
            printed(),
            count,
            l.max_label_names_per_series
        ));
    }
    let mut last: Option<&str> = None;
    for p in labels.iter() {
        if !is_valid_label_name(&p.name) {
            return Err(format!("Error parsing labels '{}' with error: invalid label name {:?}", printed(), p.name));
        }
        if p.name.len() > l.max_label_name_length {
            return Err(format!("stream '{}' has label name too long: '{}'", printed(), p.name));
        }
        if p.value.len() > l.max_label_value_length {
            return Err(format!("stream '{}' has label value too long: '{}'", printed(), p.value));
        }
        if last == Some(p.name.as_str()) {
            return Err(format!("stream '{}' has duplicate label name: '{}'", printed(), p.name));
        }
        last = Some(&p.name);
    }
    Ok(())
}

/// Loki's `ValidateEntry`.
fn check_entry(
    l: &LimitsConfig,
    stream: &str,
    e: &Entry,
    oldest: i64,
    newest: i64,
    max_line: usize,
) -> Result<(), String> {
    if l.reject_old_samples && e.ts_ns < oldest {
        return Err(format!(
            "entry for stream '{}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
            stream,
            rfc3339(e.ts_ns),
            rfc3339(oldest)
        ));
    }
    if e.ts_ns > newest {
        return Err(format!("entry for stream '{}' has timestamp too new: {}", stream, rfc3339(e.ts_ns)));
    }
    if max_line != 0 && e.line.len() > max_line {
        return Err(format!(
            "Max entry size '{}' bytes exceeded for stream '{}' while adding an entry with length '{}' bytes",
            max_line,
            stream,
            e.line.len()
        ));
    }
    let count = e.structured_metadata.len();
    if count > 0 {
        if !l.allow_structured_metadata {
            return Err(format!(
                "stream '{stream}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it."
            ));
        }
        let size: usize = e.structured_metadata.iter().map(|p| p.name.len() + p.value.len()).sum();
        let max_size = l.max_structured_metadata_size.as_usize();
        if max_size != 0 && size > max_size {
            return Err(format!(
                "stream '{stream}' has structured metadata too large: '{size}' bytes, limit: '{max_size}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it."
            ));
        }
        let max_count = l.max_structured_metadata_entries_count;
        if max_count != 0 && count > max_count {
            return Err(format!(
                "stream '{stream}' has too many structured metadata labels: '{count}', limit: '{max_count}'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it."
            ));
        }
    }
    Ok(())
}

/// Truncates to at most `max` bytes without splitting a UTF-8 sequence
/// (Loki cuts at the byte; a Rust `String` must stay valid).
fn truncate_at_char_boundary(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

/// Prometheus `otlptranslator.NormalizeLabel`, which Loki applies to
/// structured-metadata names; values lose U+FFFD (Loki strips invalid UTF-8).
fn normalize_structured_metadata(pairs: &mut [LabelPair]) {
    for p in pairs {
        let needs = !is_valid_label_name(&p.name) || (p.name.starts_with('_') && !p.name.starts_with("__"));
        if !p.name.is_empty() && needs {
            p.name = normalize_label_name(&p.name);
        }
        if p.value.contains('\u{FFFD}') {
            p.value.retain(|c| c != '\u{FFFD}');
        }
    }
}

fn normalize_label_name(name: &str) -> String {
    let sanitized: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if sanitized.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{sanitized}")
    } else if sanitized.starts_with('_') && !sanitized.starts_with("__") {
        format!("key{sanitized}")
    } else {
        sanitized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_metadata_names_like_prometheus() {
        let cases = [
            ("trace_id", "trace_id"),
            ("trace.id", "trace_id"),
            ("1abc", "key_1abc"),
            ("_x", "key_x"),
            ("__x", "__x"),
            ("a-b.c", "a_b_c"),
            ("é", "key_"),
        ];
        for (input, want) in cases {
            let mut pairs = vec![LabelPair { name: input.into(), value: "v\u{FFFD}w".into() }];
            normalize_structured_metadata(&mut pairs);
            assert_eq!(pairs[0].name, want, "{input}");
            assert_eq!(pairs[0].value, "vw");
        }
    }

    #[test]
    fn truncation_keeps_utf8() {
        let mut s = "aé".to_string(); // 3 bytes
        truncate_at_char_boundary(&mut s, 2);
        assert_eq!(s, "a");
        let mut s = "abcdef".to_string();
        truncate_at_char_boundary(&mut s, 4);
        assert_eq!(s, "abcd");
    }
}
