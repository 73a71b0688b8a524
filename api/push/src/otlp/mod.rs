//! OTLP/HTTP logs ingest (`POST /otlp/v1/logs`), as Loki 3.7 maps it
//! (`pkg/loghttp/push/otlp.go`).
//!
//! [`decode`] reads the body (`application/x-protobuf` or OTLP/JSON,
//! optionally gzip) into an `ExportLogsServiceRequest`; [`to_push_request`]
//! turns it into streams and entries that then go through the same
//! validation and write path as a Loki push:
//!
//! - resource attributes in the index-label list (Loki's default list unless
//!   `ignore_defaults`, then `attributes_config`) become stream labels, names
//!   sanitized (`service.name` → `service_name`); the others become
//!   structured metadata of every entry, or are dropped;
//! - `service_name` is the first index label named in
//!   `limits_config.discover_service_name`, else `unknown_service`, unless a
//!   non-empty `service.name` resource attribute exists;
//! - scope attributes, `scope_name`, `scope_version` and
//!   `scope_dropped_attributes_count` are structured metadata;
//! - log attributes are structured metadata (or index labels, or dropped, by
//!   `log_attributes`), followed by `observed_timestamp` (when the record also
//!   has a timestamp), `severity_number`, `severity_text`,
//!   `dropped_attributes_count`, `flags`, `trace_id` and `span_id` (hex);
//! - the body is the line (`AsString`: JSON for maps and arrays); the
//!   timestamp is `time_unix_nano`, else `observed_time_unix_nano`, else now.
//!
//! `detected_level` comes later, from the validator's field detection
//! (`severity_text`, then `severity_number`).

pub mod config;
pub mod render;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use balsa_model::{Entry, LabelPair, Labels, PushRequest, StreamPush};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

pub use config::{Action, AttributesConfig, OtlpConfig, ResourceAttributesConfig};
use render::{label_name, value_as_string};

use crate::error::PushError;
use crate::service_name::{SERVICE_NAME_LABEL, UNKNOWN_SERVICE};

pub use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest as ExportRequest;

pub const SEVERITY_NUMBER: &str = "severity_number";
pub const SEVERITY_TEXT: &str = "severity_text";
const SERVICE_NAME_ATTRIBUTE: &str = "service.name";

/// `google.rpc.Status`, the body of an OTLP/HTTP error (Loki leaves `code` 0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The protobuf `google.rpc.Status` body Loki sends with an OTLP error.
pub fn error_body(message: &str) -> Vec<u8> {
    Status { code: 0, message: message.to_string() }.encode_to_vec()
}

/// Decodes an OTLP/HTTP logs body. Content-Encoding: none or `gzip` (Loki
/// also takes `zstd` and `lz4`, which Balsa refuses with a 400); the
/// decompressed size is bounded by `max_decoded` (413). Content-Type:
/// `application/x-protobuf` or `application/json` (parameters ignored);
/// anything else is a 400, as in Loki.
pub fn decode(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_decoded: usize,
) -> Result<ExportLogsServiceRequest, PushError> {
    let enc = content_encoding.map(str::trim).unwrap_or("");
    let owned;
    let raw: &[u8] = if enc.is_empty() {
        if body.len() > max_decoded {
            return Err(PushError::BodyTooLarge { limit: max_decoded });
        }
        body
    } else if enc.eq_ignore_ascii_case("gzip") {
        owned = read_gzip(body, max_decoded)?;
        &owned
    } else {
        return Err(PushError::malformed(format!(
            "unsupported content encoding {enc}: only gzip is supported (Loki also accepts lz4 and zstd)"
        )));
    };
    let media = content_type.and_then(|ct| ct.split(';').next()).map(str::trim).unwrap_or("");
    let (req, what): (ExportLogsServiceRequest, _) = if media.eq_ignore_ascii_case("application/x-protobuf") {
        let req = ExportLogsServiceRequest::decode(raw)
            .map_err(|e| PushError::malformed(format!("invalid OTLP protobuf body: {e}")))?;
        (req, "protobuf")
    } else if media.eq_ignore_ascii_case("application/json") {
        let bad = |e: serde_json::Error| PushError::malformed(format!("invalid OTLP JSON body: {e}"));
        let mut doc: serde_json::Value = serde_json::from_slice(raw).map_err(bad)?;
        normalize_json(&mut doc);
        (serde_json::from_value(doc).map_err(bad)?, "JSON")
    } else {
        return Err(PushError::malformed(format!("content type: {} is not supported", content_type.unwrap_or(""))));
    };
    check_ids(&req).map_err(|e| PushError::malformed(format!("invalid OTLP {what} body: {e}")))?;
    Ok(req)
}

/// pdata refuses a trace id that is not 16 bytes, a span id not 8 (empty is absent).
fn check_ids(req: &ExportLogsServiceRequest) -> Result<(), &'static str> {
    let records = req.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records);
    for r in records {
        if !matches!(r.trace_id.len(), 0 | 16) {
            return Err("unmarshal: invalid TraceID length");
        }
        if !matches!(r.span_id.len(), 0 | 8) {
            return Err("unmarshal: invalid SpanID length");
        }
    }
    Ok(())
}

/// Brings an OTLP/JSON document to the form the `opentelemetry-proto`
/// types read, accepting what pdata's JSON decoder (Loki's) also accepts:
/// the proto field names beside the camelCase ones (`time_unix_nano`),
/// `null` for an absent field, an enum name for `severityNumber`, and an
/// `arrayValue`/`kvlistValue` without `values`. OTLP/JSON has no map-typed
/// fields, so every object key is a field name and renaming is safe.
fn normalize_json(v: &mut serde_json::Value) {
    use serde_json::Value as J;
    match v {
        J::Array(items) => items.iter_mut().for_each(normalize_json),
        J::Object(fields) => {
            let old = std::mem::take(fields);
            for (k, mut v) in old {
                if v.is_null() {
                    continue;
                }
                let k = if k.contains('_') { camel_case(&k) } else { k };
                if (k == "arrayValue" || k == "kvlistValue") && v.is_object() {
                    v.as_object_mut().into_iter().for_each(|o| {
                        o.entry("values").or_insert_with(|| J::Array(Vec::new()));
                    });
                }
                if let Some(n) = v.as_str().filter(|_| k == "severityNumber").and_then(severity_number_of_name) {
                    v = J::from(n);
                }
                normalize_json(&mut v);
                fields.insert(k, v);
            }
        }
        _ => {}
    }
}

fn camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `SEVERITY_NUMBER_WARN2` → 14.
fn severity_number_of_name(name: &str) -> Option<i32> {
    opentelemetry_proto::tonic::logs::v1::SeverityNumber::from_str_name(name).map(|n| n as i32)
}

fn read_gzip(body: &[u8], max: usize) -> Result<Vec<u8>, PushError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max).min(1 << 20));
    let mut r = flate2::read::MultiGzDecoder::new(body).take(max as u64 + 1);
    r.read_to_end(&mut out).map_err(|e| PushError::malformed(format!("gzip: invalid compressed body: {e}")))?;
    if out.len() > max {
        return Err(PushError::BodyTooLarge { limit: max });
    }
    Ok(out)
}

/// The push an OTLP request maps to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OtlpPush {
    pub request: PushRequest,
    /// Some stream was left without `service_name` on purpose (the resource
    /// has `service.name` but it is not an index label): the validator must
    /// not discover one for it, as Loki's OTLP path does discovery itself.
    pub skip_service_name_discovery: bool,
}

/// Maps an OTLP request to Loki streams. `discover_service_name` is the
/// tenant's `limits_config.discover_service_name`; `now_ns` stamps records
/// that carry no time at all. An attribute name that cannot become a label
/// name (empty, or only punctuation) fails the whole request, as in Loki.
pub fn to_push_request(
    req: &ExportLogsServiceRequest,
    cfg: &OtlpConfig,
    discover_service_name: &[String],
    now_ns: i64,
) -> Result<OtlpPush, PushError> {
    let mut out = OtlpPush::default();
    let mut streams: Vec<StreamPush> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut push_entry = |labels: Labels, entry: Entry| match index.get(&labels) {
        Some(&i) => streams[i].entries.push(entry),
        None => {
            index.insert(labels.clone(), streams.len());
            streams.push(StreamPush { labels, entries: vec![entry] });
        }
    };

    for rl in &req.resource_logs {
        let res_attrs: &[KeyValue] = rl.resource.as_ref().map_or(&[], |r| &r.attributes);
        let discover = !discover_service_name.is_empty();
        let mut has_service_name = res_attrs
            .iter()
            .find(|kv| kv.key == SERVICE_NAME_ATTRIBUTE)
            .is_some_and(|kv| !value_as_string(kv.value.as_ref()).is_empty());
        let named_but_not_indexed = has_service_name;
        let mut stream_labels: BTreeMap<String, String> = BTreeMap::new();
        let mut resource_metadata: Vec<LabelPair> = Vec::new();
        for kv in res_attrs {
            let action = cfg.resource_action(&kv.key);
            if action == Action::Drop {
                continue;
            }
            let pairs = attribute_to_labels(kv, "")?;
            if action == Action::IndexLabel {
                for p in pairs {
                    if !has_service_name && discover && discover_service_name.contains(&p.name) {
                        stream_labels.insert(SERVICE_NAME_LABEL.to_string(), p.value.clone());
                        has_service_name = true;
                    }
                    stream_labels.insert(p.name, p.value);
                }
            } else {
                resource_metadata.extend(pairs);
            }
        }
        if !has_service_name && discover {
            stream_labels.insert(SERVICE_NAME_LABEL.to_string(), UNKNOWN_SERVICE.to_string());
        }
        if discover && named_but_not_indexed && !stream_labels.contains_key(SERVICE_NAME_LABEL) {
            out.skip_service_name_discovery = true;
        }

        for sl in &rl.scope_logs {
            let mut scope_metadata: Vec<LabelPair> = Vec::new();
            if let Some(scope) = &sl.scope {
                for kv in &scope.attributes {
                    if cfg.scope_action(&kv.key) == Action::StructuredMetadata {
                        scope_metadata.extend(attribute_to_labels(kv, "")?);
                    }
                }
                if !scope.name.is_empty() {
                    scope_metadata.push(pair("scope_name", &scope.name));
                }
                if !scope.version.is_empty() {
                    scope_metadata.push(pair("scope_version", &scope.version));
                }
                if scope.dropped_attributes_count != 0 {
                    scope_metadata
                        .push(pair("scope_dropped_attributes_count", &scope.dropped_attributes_count.to_string()));
                }
            }
            for record in &sl.log_records {
                let (log_labels, mut entry) = record_to_entry(record, cfg, now_ns)?;
                entry.structured_metadata.extend(resource_metadata.iter().cloned());
                entry.structured_metadata.extend(scope_metadata.iter().cloned());
                let labels = if log_labels.is_empty() {
                    Labels::from_pairs(stream_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                } else {
                    let mut combined = stream_labels.clone();
                    combined.extend(log_labels);
                    Labels::from_pairs(combined)
                };
                push_entry(labels, entry);
            }
        }
    }
    out.request = PushRequest { streams };
    Ok(out)
}

fn pair(name: &str, value: &str) -> LabelPair {
    LabelPair { name: name.to_string(), value: value.to_string() }
}

/// Loki's `otlpLogToPushEntry`: the entry, and the labels its attributes
/// (or `severity_text_as_label`) add to its stream.
fn record_to_entry(
    record: &LogRecord,
    cfg: &OtlpConfig,
    now_ns: i64,
) -> Result<(BTreeMap<String, String>, Entry), PushError> {
    let mut metadata: Vec<LabelPair> = Vec::with_capacity(record.attributes.len() + 7);
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for kv in &record.attributes {
        match cfg.log_action(&kv.key) {
            Action::Drop => {}
            Action::StructuredMetadata => metadata.extend(attribute_to_labels(kv, "")?),
            Action::IndexLabel => labels.extend(attribute_to_labels(kv, "")?.into_iter().map(|p| (p.name, p.value))),
        }
    }
    if record.time_unix_nano != 0 && record.observed_time_unix_nano != 0 {
        metadata.push(pair("observed_timestamp", &(record.observed_time_unix_nano as i64).to_string()));
    }
    if record.severity_number != 0 {
        metadata.push(pair(SEVERITY_NUMBER, &record.severity_number.to_string()));
    }
    if !record.severity_text.is_empty() {
        if cfg.severity_text_as_label {
            labels.insert(SEVERITY_TEXT.to_string(), record.severity_text.clone());
        }
        metadata.push(pair(SEVERITY_TEXT, &record.severity_text));
    }
    if record.dropped_attributes_count != 0 {
        metadata.push(pair("dropped_attributes_count", &record.dropped_attributes_count.to_string()));
    }
    if record.flags != 0 {
        metadata.push(pair("flags", &record.flags.to_string()));
    }
    // pdata's IsEmpty: all zero bytes (a missing id decodes as empty).
    if record.trace_id.iter().any(|&b| b != 0) {
        metadata.push(pair("trace_id", &hex(&record.trace_id)));
    }
    if record.span_id.iter().any(|&b| b != 0) {
        metadata.push(pair("span_id", &hex(&record.span_id)));
    }
    let ts_ns = if record.time_unix_nano != 0 {
        record.time_unix_nano as i64
    } else if record.observed_time_unix_nano != 0 {
        record.observed_time_unix_nano as i64
    } else {
        now_ns
    };
    let line = value_as_string(record.body.as_ref());
    Ok((labels, Entry { ts_ns, line, structured_metadata: metadata }))
}

/// Loki's `attributeToLabels`: a map value is flattened into one pair per
/// leaf, names joined with `_`; every name goes through the label namer.
fn attribute_to_labels(kv: &KeyValue, prefix: &str) -> Result<Vec<LabelPair>, PushError> {
    let full = if prefix.is_empty() { kv.key.clone() } else { format!("{prefix}_{}", kv.key) };
    let name = label_name(&full).map_err(|e| PushError::malformed(format!("symbolizer lookup: {e}")))?;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::KvlistValue(list)) => {
            let mut out = Vec::with_capacity(list.values.len());
            for inner in &list.values {
                out.extend(attribute_to_labels(inner, &name)?);
            }
            Ok(out)
        }
        _ => Ok(vec![LabelPair { name, value: value_as_string(kv.value.as_ref()) }]),
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}
