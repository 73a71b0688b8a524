//! JSON v1 push bodies:
//! `{"streams":[{"stream":{"k":"v"},"values":[["<ns>","<line>",{..}]]}]}`.
//!
//! The timestamp must be a JSON string of Unix nanoseconds (a number is a
//! 400). The optional third element is a flat string map of structured
//! metadata, or the categorized `{"structuredMetadata":{..},"parsed":{..}}`
//! (parsed labels are query-side only and dropped). Unknown fields are
//! ignored and invalid UTF-8 is replaced with U+FFFD, as Go's decoders do.

use std::collections::BTreeMap;
use std::fmt;

use balsa_model::{Entry, LabelPair, Labels, PushRequest, StreamPush};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::PushError;
use crate::label_parser::is_valid_label_name;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    streams: Option<Vec<JsonStream>>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: Option<LabelMap>,
    #[serde(default)]
    values: Option<Vec<JsonEntry>>,
}

/// A JSON object of string values, duplicates resolved last-wins (as Go).
struct LabelMap(BTreeMap<String, String>);

struct JsonEntry(Entry);

pub(crate) fn decode_json(body: &[u8]) -> Result<PushRequest, PushError> {
    let text = String::from_utf8_lossy(body);
    let parsed: Body =
        serde_json::from_str(&text).map_err(|e| PushError::malformed(format!("invalid JSON push body: {e}")))?;
    let mut streams = Vec::new();
    for s in parsed.streams.unwrap_or_default() {
        let labels = labels_from_map(s.stream.map(|m| m.0).unwrap_or_default())?;
        let entries = s.values.unwrap_or_default().into_iter().map(|e| e.0).collect();
        streams.push(StreamPush { labels, entries });
    }
    Ok(PushRequest { streams })
}

/// Loki turns the map into a label string and parses it: invalid names fail
/// the request and empty values are dropped.
pub(crate) fn labels_from_map(map: BTreeMap<String, String>) -> Result<Labels, PushError> {
    if let Some(bad) = map.keys().find(|k| !is_valid_label_name(k)) {
        let printed = Labels::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_str()))).canonical();
        return Err(PushError::InvalidLabels { labels: printed, reason: format!("invalid label name {bad:?}") });
    }
    Ok(Labels::from_pairs(map.into_iter().filter(|(_, v)| !v.is_empty())))
}

impl<'de> Deserialize<'de> for LabelMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PairsVisitor { what: "stream label" })
            .map(|p| LabelMap(p.into_iter().map(|LabelPair { name, value }| (name, value)).collect()))
    }
}

struct PairsVisitor {
    what: &'static str,
}

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Vec<LabelPair>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object of {} string values", self.what)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map
                .next_value::<StrOnly>()
                .map_err(|_| de::Error::custom(format!("{} value for {name:?} must be a string", self.what)))?;
            out.push(LabelPair { name, value: value.0 });
        }
        Ok(out)
    }
}

/// A string, with a clear error for anything else.
struct StrOnly(String);

impl<'de> Deserialize<'de> for StrOnly {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(StrOnly)
    }
}

/// The first element: a string of nanoseconds.
struct Timestamp(i64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp: a string of Unix nanoseconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse::<i64>()
                    .map(Timestamp)
                    .map_err(|_| E::custom(format!("invalid timestamp {v:?}: expected a string of Unix nanoseconds")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Err(E::custom(format!("timestamp must be a string of Unix nanoseconds, got the number {v}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                Err(E::custom(format!("timestamp must be a string of Unix nanoseconds, got the number {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Err(E::custom(format!("timestamp must be a string of Unix nanoseconds, got the number {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// The optional third element: flat or categorized metadata.
struct Metadata(Vec<LabelPair>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of structured metadata")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let value = map.next_value::<MetaValue>().map_err(|_| {
                        de::Error::custom(format!("structured metadata value for {name:?} must be a string"))
                    })?;
                    match value {
                        MetaValue::Str(value) => out.push(LabelPair { name, value }),
                        MetaValue::Object(pairs) => match name.as_str() {
                            "structuredMetadata" => out.extend(pairs),
                            "parsed" => {}
                            _ => {
                                return Err(de::Error::custom(format!(
                                    "structured metadata value for {name:?} must be a string"
                                )));
                            }
                        },
                    }
                }
                Ok(Metadata(out))
            }
        }
        d.deserialize_map(V)
    }
}

enum MetaValue {
    Str(String),
    Object(Vec<LabelPair>),
}

impl<'de> Deserialize<'de> for MetaValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MetaValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an object of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MetaValue, E> {
                Ok(MetaValue::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MetaValue, E> {
                Ok(MetaValue::Str(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MetaValue, A::Error> {
                PairsVisitor { what: "structured metadata" }.visit_map(map).map(MetaValue::Object)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for JsonEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an entry ["<ns timestamp>", "<line>"] or ["<ns>", "<line>", {metadata}]"#)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonEntry, A::Error> {
                let Timestamp(ts_ns) =
                    seq.next_element()?.ok_or_else(|| de::Error::custom("entry is missing its timestamp and line"))?;
                let StrOnly(line) = seq
                    .next_element()
                    .map_err(|_| de::Error::custom("entry line must be a string"))?
                    .ok_or_else(|| de::Error::custom("entry is missing its line"))?;
                let metadata = seq.next_element::<Option<Metadata>>()?.flatten().map(|m| m.0).unwrap_or_default();
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonEntry(Entry { ts_ns, line, structured_metadata: metadata }))
            }
        }
        d.deserialize_seq(V)
    }
}
